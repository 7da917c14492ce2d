// JGCrypto
