// Prover core
