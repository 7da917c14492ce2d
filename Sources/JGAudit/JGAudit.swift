// JGAudit
