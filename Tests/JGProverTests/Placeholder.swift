import Testing
@Test func proverPlaceholder() { #expect(Bool(true)) }
