// JGBrokerCore
