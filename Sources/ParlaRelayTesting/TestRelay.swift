import ParlaRelay
