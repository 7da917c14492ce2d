print("prover benchmark: not written yet")
