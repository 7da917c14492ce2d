// JGProverCore
