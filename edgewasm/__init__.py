"""edgewasm: provision edge fleets into K3s clusters that run WebAssembly under policy."""
