extension StringProtocol {
    /// The text without leading and trailing whitespace (spaces, tabs, newlines); shared by every module
    /// that reads keys, ids and numbers from files.
    public func trimmingWhitespace() -> String {
        var sub = Substring(self)
        while let f = sub.first, f.isWhitespace { sub.removeFirst() }
        while let l = sub.last, l.isWhitespace { sub.removeLast() }
        return String(sub)
    }
}
