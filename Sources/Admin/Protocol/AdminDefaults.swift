/// Defaults shared by the proxy and `yardctl`, so the two cannot drift apart.
public enum AdminDefaults {
    /// Where the admin socket lives unless configured otherwise (`yardctl -s`, `SWITCHYARD_SOCKET`).
    public static let socketPath = "/tmp/switchyard.sock"
    /// The environment variable `yardctl` reads when `-s` is not given.
    public static let socketEnvironmentVariable = "SWITCHYARD_SOCKET"
}
