import Glibc
import JGIPC

/// A peer on a newline-delimited stdio channel: the client on our stdin/stdout, or the upstream's pipes.
/// `@unchecked`: its only state is the channel, itself safe to share (LineChannel).
final class StdioPeer: MCPPeer, @unchecked Sendable {
    let channel: LineChannel
    init(channel: LineChannel) { self.channel = channel }
    func deliver(_ message: [UInt8], inReplyTo idKey: String?) { channel.send(message) }
}
