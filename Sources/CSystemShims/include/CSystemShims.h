#ifndef CSYSTEMSHIMS_H
#define CSYSTEMSHIMS_H
// What Glibc's Swift overlay does not export: epoll, eventfd, signalfd, accept4, splice, CMSG.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdint.h>
#include <sys/types.h>

/// accept4(2) needs _GNU_SOURCE, which only the .c file defines.
int shim_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
/// splice(2) for zero-copy body forwarding (optional fast path).
long shim_splice(int fd_in, int fd_out, size_t len, unsigned int flags);
/// Sends one file descriptor with SCM_RIGHTS alongside one byte.
int shim_send_fd(int sock, int fd);
/// Receives one file descriptor sent by shim_send_fd; returns it or -1.
int shim_recv_fd(int sock);
/// Blocks (mask) the given signals for the calling thread; returns 0 on success.
int shim_block_signals(const int *signals, int count, sigset_t *out_set);
/// Constants that import awkwardly (enums / macros).
static inline uint32_t shim_EPOLLIN(void) { return EPOLLIN; }
static inline uint32_t shim_EPOLLOUT(void) { return EPOLLOUT; }
static inline uint32_t shim_EPOLLERR(void) { return EPOLLERR; }
static inline uint32_t shim_EPOLLHUP(void) { return EPOLLHUP; }
static inline uint32_t shim_EPOLLRDHUP(void) { return EPOLLRDHUP; }
static inline uint32_t shim_EPOLLET(void) { return EPOLLET; }
static inline int shim_SOCK_NONBLOCK_CLOEXEC(void) { return SOCK_NONBLOCK | SOCK_CLOEXEC; }
static inline int shim_SOCK_STREAM(void) { return SOCK_STREAM; }
static inline int shim_MSG_NOSIGNAL(void) { return MSG_NOSIGNAL; }
#endif
