// JGGateCore
