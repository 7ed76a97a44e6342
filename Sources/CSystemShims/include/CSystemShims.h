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
/// Raw socket syscalls for the request path: they return the result or -errno, without libc's
/// wrapper (which for recv/send toggles asynchronous cancellation around the call and writes
/// errno through TLS). Measured: about 0.3% of the proxy's CPU per small request went to the
/// cancellation toggles alone. Other architectures fall back to libc's syscall(2).
#include <sys/syscall.h>
#if defined(__x86_64__)
static inline long shim_raw_syscall6(long n, long a, long b, long c, long d, long e, long f) {
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile ("syscall"
                      : "=a"(ret)
                      : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                      : "rcx", "r11", "memory");
    return ret;
}
#else
#include <errno.h>
static inline long shim_raw_syscall6(long n, long a, long b, long c, long d, long e, long f) {
    long r = syscall(n, a, b, c, d, e, f);
    return r < 0 ? -errno : r;
}
#endif
static inline long shim_recv(int fd, void *buf, size_t len) {
    return shim_raw_syscall6(SYS_recvfrom, fd, (long)buf, (long)len, 0, 0, 0);
}
static inline long shim_send(int fd, const void *buf, size_t len, int flags) {
    return shim_raw_syscall6(SYS_sendto, fd, (long)buf, (long)len, flags, 0, 0);
}
/// epoll_wait without libc's cancellation toggles (epoll_pwait with no mask: on every arch).
static inline long shim_epoll_wait(int epfd, struct epoll_event *events, int max, int timeout) {
    return shim_raw_syscall6(SYS_epoll_pwait, epfd, (long)events, max, timeout, 0, 8);
}
static inline long shim_sendmsg(int fd, const struct msghdr *msg, int flags) {
    return shim_raw_syscall6(SYS_sendmsg, fd, (long)msg, flags, 0, 0, 0);
}
/// A minimal io_uring (no liburing: toolchain only) used for one thing: batching the receives
/// of one epoll round into one io_uring_enter(2). See `RecvBatch` in EventLoop.
#include <linux/io_uring.h>
#include <string.h>
struct shim_uring {
    int fd;
    unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
    struct io_uring_sqe *sqes;
    unsigned *cq_head, *cq_tail, *cq_mask;
    struct io_uring_cqe *cqes;
    unsigned sq_entries;
    /// Our tail, including queued entries not yet published to the kernel.
    unsigned local_tail;
    void *sq_ring, *cq_ring;
    size_t sq_ring_size, cq_ring_size, sqes_size;
};
/// Sets up a ring of `entries` submission slots; 0, or -errno (ENOSYS, EPERM under seccomp...).
int shim_uring_init(struct shim_uring *r, unsigned entries);
void shim_uring_free(struct shim_uring *r);
/// Entries queued and not yet submitted.
static inline unsigned shim_uring_queued(const struct shim_uring *r) {
    return r->local_tail - *r->sq_tail;
}
/// Queues one socket operation (IORING_OP_RECV or IORING_OP_SEND); with `nonblocking`, MSG_DONTWAIT:
/// the kernel completes it at once (bytes, or -EAGAIN) and never parks it, or its buffer. (Tests
/// queue a blocking one to see a parked entry handled.) The caller keeps at most sq_entries queued.
static inline void shim_uring_prep_socket_op(struct shim_uring *r, int opcode, int fd, const void *buf,
                                             unsigned len, int msg_flags, int nonblocking, uint64_t user_data) {
    unsigned idx = r->local_tail & *r->sq_mask;
    struct io_uring_sqe *sqe = &r->sqes[idx];
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = (uint8_t)opcode;
    sqe->fd = fd;
    sqe->addr = (uint64_t)(uintptr_t)buf;
    sqe->len = len;
    sqe->msg_flags = (uint32_t)(msg_flags | (nonblocking ? MSG_DONTWAIT : 0));
    sqe->user_data = user_data;
    r->sq_array[idx] = idx;
    r->local_tail++;
}
static inline void shim_uring_prep_send(struct shim_uring *r, int fd, const void *buf, unsigned len, uint64_t user_data) {
    shim_uring_prep_socket_op(r, IORING_OP_SEND, fd, buf, len, MSG_NOSIGNAL, 1, user_data);
}
/// Queues a cancel of every operation still in flight on the ring (a parked one).
static inline void shim_uring_prep_cancel_all(struct shim_uring *r, uint64_t user_data) {
    unsigned idx = r->local_tail & *r->sq_mask;
    struct io_uring_sqe *sqe = &r->sqes[idx];
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = IORING_OP_ASYNC_CANCEL;
    sqe->fd = -1;
    sqe->cancel_flags = IORING_ASYNC_CANCEL_ANY;
    sqe->user_data = user_data;
    r->sq_array[idx] = idx;
    r->local_tail++;
}
/// Turns the k-th queued (unsubmitted) entry into a no-op: its socket is being closed.
static inline void shim_uring_cancel_queued(struct shim_uring *r, unsigned k) {
    struct io_uring_sqe *sqe = &r->sqes[(*r->sq_tail + k) & *r->sq_mask];
    sqe->opcode = IORING_OP_NOP;
    sqe->fd = -1;
    sqe->addr = 0;
    sqe->len = 0;
}
static inline int shim_IORING_OP_RECV(void) { return IORING_OP_RECV; }
static inline int shim_IORING_OP_SEND(void) { return IORING_OP_SEND; }
/// Drops queued entries that were not submitted.
static inline void shim_uring_unqueue(struct shim_uring *r) { r->local_tail = *r->sq_tail; }
/// The first queued entry's ring index (read it before `shim_uring_enter` publishes them).
static inline unsigned shim_uring_batch_start(const struct shim_uring *r) { return *r->sq_tail; }
/// The entry at ring index `index` (from `shim_uring_batch_start` + position).
static inline struct io_uring_sqe *shim_uring_sqe_at(struct shim_uring *r, unsigned index) {
    return &r->sqes[index & *r->sq_mask];
}
/// Publishes the queued entries and enters the kernel once, waiting for `wait` completions;
/// returns the number submitted or -errno.
static inline long shim_uring_enter(struct shim_uring *r, unsigned wait) {
    unsigned n = r->local_tail - *r->sq_tail;
    __atomic_store_n(r->sq_tail, r->local_tail, __ATOMIC_RELEASE);
    return shim_raw_syscall6(SYS_io_uring_enter, r->fd, n, wait, wait ? IORING_ENTER_GETEVENTS : 0, 0, 0);
}
/// Takes one completion: 1 with *user_data and *res set, or 0 when none is ready.
static inline int shim_uring_reap(struct shim_uring *r, uint64_t *user_data, int32_t *res) {
    unsigned head = *r->cq_head;
    if (head == __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE)) return 0;
    struct io_uring_cqe *cqe = &r->cqes[head & *r->cq_mask];
    *user_data = cqe->user_data;
    *res = cqe->res;
    __atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
    return 1;
}
#endif
