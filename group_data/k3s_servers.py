edgewasm_role = "server"
