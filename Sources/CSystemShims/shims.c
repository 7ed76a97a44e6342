#define _GNU_SOURCE
#include <pthread.h>
#include "CSystemShims.h"
#include <string.h>
#include <errno.h>

int shim_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
    return accept4(fd, addr, len, flags);
}

long shim_splice(int fd_in, int fd_out, size_t len, unsigned int flags) {
    return (long)splice(fd_in, NULL, fd_out, NULL, len, flags);
}

int shim_send_fd(int sock, int fd) {
    char byte = 'F';
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
    memset(&u, 0, sizeof(u));
    struct msghdr msg = { 0 };
    msg.msg_iov = &iov; msg.msg_iovlen = 1;
    msg.msg_control = u.buf; msg.msg_controllen = sizeof(u.buf);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET; c->cmsg_type = SCM_RIGHTS; c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    ssize_t n;
    do { n = sendmsg(sock, &msg, MSG_NOSIGNAL); } while (n < 0 && errno == EINTR);
    return n == 1 ? 0 : -1;
}

int shim_recv_fd(int sock) {
    char byte;
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
    struct msghdr msg = { 0 };
    msg.msg_iov = &iov; msg.msg_iovlen = 1;
    msg.msg_control = u.buf; msg.msg_controllen = sizeof(u.buf);
    ssize_t n;
    do { n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); } while (n < 0 && errno == EINTR);
    if (n != 1) return -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) return -1;
    int fd; memcpy(&fd, CMSG_DATA(c), sizeof(int));
    return fd;
}

int shim_block_signals(const int *signals, int count, sigset_t *out_set) {
    sigset_t set; sigemptyset(&set);
    for (int i = 0; i < count; i++) sigaddset(&set, signals[i]);
    if (out_set) *out_set = set;
    return pthread_sigmask(SIG_BLOCK, &set, NULL);
}

#include <sys/mman.h>

int shim_uring_init(struct shim_uring *r, unsigned entries) {
    memset(r, 0, sizeof *r);
    r->fd = -1;
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    // One thread submits (the loop's); completions are only ever taken by that thread.
    p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER;
    long fd = shim_raw_syscall6(SYS_io_uring_setup, entries, (long)&p, 0, 0, 0, 0);
    if (fd < 0) return (int)fd;
    r->fd = (int)fd;
    if (!(p.features & IORING_FEAT_SINGLE_MMAP) || !(p.features & IORING_FEAT_NODROP)) {
        close(r->fd);
        r->fd = -1;
        return -ENOTSUP;
    }
    size_t sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    size_t size = sq_size > cq_size ? sq_size : cq_size;
    void *ring = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
    if (ring == MAP_FAILED) { int e = errno; close(r->fd); r->fd = -1; return -e; }
    size_t sqes_size = p.sq_entries * sizeof(struct io_uring_sqe);
    void *sqes = mmap(NULL, sqes_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
    if (sqes == MAP_FAILED) { int e = errno; munmap(ring, size); close(r->fd); r->fd = -1; return -e; }
    char *b = ring;
    r->sq_ring = ring; r->sq_ring_size = size;
    r->cq_ring = NULL; r->cq_ring_size = 0;   // the same mapping (IORING_FEAT_SINGLE_MMAP)
    r->sq_head = (unsigned *)(b + p.sq_off.head);
    r->sq_tail = (unsigned *)(b + p.sq_off.tail);
    r->sq_mask = (unsigned *)(b + p.sq_off.ring_mask);
    r->sq_array = (unsigned *)(b + p.sq_off.array);
    r->cq_head = (unsigned *)(b + p.cq_off.head);
    r->cq_tail = (unsigned *)(b + p.cq_off.tail);
    r->cq_mask = (unsigned *)(b + p.cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe *)(b + p.cq_off.cqes);
    r->sqes = sqes;
    r->sqes_size = sqes_size;
    r->sq_entries = p.sq_entries;
    r->local_tail = *r->sq_tail;
    return 0;
}

void shim_uring_free(struct shim_uring *r) {
    if (r->fd < 0) return;
    munmap(r->sqes, r->sqes_size);
    munmap(r->sq_ring, r->sq_ring_size);
    close(r->fd);
    r->fd = -1;
}
