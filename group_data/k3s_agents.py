edgewasm_role = "agent"
