// JGPolicy
