// `import Admin` is the whole admin socket: the protocol, the server, and (in this module) the
// blocking client and the table renderers that yardctl prints with. The proxy imports only
// AdminProtocol and AdminSocket.
@_exported import AdminProtocol
@_exported import AdminSocket
