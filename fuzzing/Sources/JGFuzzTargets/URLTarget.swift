import CFuzzSupport
import JGBrokerCore

/// The network_request URL rules against libcurl's own URL parser (curl_url), the one that reads the URL
/// when the broker fetches it: a URL our rules allow must name, for curl, the same host and port that
/// our rules judged — else the check and the connection would be about two different machines.
enum URLTarget {
    static func run(_ data: [UInt8]) {
        guard data.count <= 4096, !data.contains(0), let url = text(data) else { return }
        _ = URLRules.violation(url, allowed: ["10.0.0.1:8080"])
        guard URLRules.violation(url) == nil else { return }
        guard let ours = URLRules.parse(url) else { violated("allowed but unparsable", data) }
        guard let theirs = CurlURL.hostAndPort(url) else { return }  // curl refuses it: no connection at all
        let h = theirs.host.lowercased()
        let host = h.hasSuffix(".") ? String(h.dropLast()) : h
        // curl writes IPv6 literals in their canonical form: the same address is the same host.
        let sameHost = host == ours.host || (AddressClass.parse(host).map { $0 == AddressClass.parse(ours.host) } ?? false)
        if !sameHost || theirs.port != Int(ours.port) {
            violated("rules judged \(ours.host):\(ours.port), curl would connect to \(host):\(theirs.port)", data)
        }
    }
}

/// curl_url's reading of a URL (also the reference of scripts/fuzz_differential.py's URL run).
public enum CurlURL {
    public static func hostAndPort(_ url: String) -> (host: String, port: Int)? {
        var buf = [CChar](repeating: 0, count: 4096)
        var port = 0
        let rc = buf.withUnsafeMutableBufferPointer { b in jg_fuzz_curl_host(url, b.baseAddress, b.count, &port) }
        guard rc == 0 else { return nil }
        let host = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return (host, port)
    }
}
