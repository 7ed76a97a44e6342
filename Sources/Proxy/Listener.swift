import EventLoop
import Glibc

/// A loop's own SO_REUSEPORT listening socket: accepted connections become this worker's
/// clients; accepting pauses while the worker is at its connection limit (`Worker.clientClosed`
/// resumes it). The accept loop itself, with its back-off and final sweep, is `Acceptor`'s.
final class Listener: Acceptor {
    unowned(unsafe) let worker: Worker
    let address: SocketAddress

    init(worker: Worker, socket: Socket, address: SocketAddress) {
        self.worker = worker
        self.address = address
        super.init(loop: worker.loop, socket: socket)
    }

    override var mayAccept: Bool { worker.clientCount < worker.maxClients }

    override func accepted(_ socket: Socket, peer: SocketAddress) {
        ClientConnection.start(worker: worker, socket: socket, peer: peer)
    }

    override func acceptFailed(_ errno: Int32, backingOff: Bool) {
        if backingOff {
            // Out of descriptors or memory: back off instead of spinning on a ready listener.
            Log.warn("worker \(worker.loop.index): accept on \(address.description): \(SocketError.text(errno)); pausing accepts for 100 ms")
        } else {
            Log.warn("worker \(worker.loop.index): accept: \(SocketError.text(errno))")
        }
    }
}
