from edgewasm.summary import render


def test_every_host_converged():
    assert render(["a", "b"], {}) == [("info", "--> edgewasm: 2 of 2 hosts converged"),
                                      ("info", "    converged: a, b")]


def test_failed_hosts_are_named_with_their_reasons_as_errors():
    lines = render(["a", "b", "c"], {"b": "unreachable: no SSH connection"})
    assert lines[0] == ("info", "--> edgewasm: 2 of 3 hosts converged")
    assert ("info", "    converged: a, c") in lines
    assert ("error", "    b: unreachable: no SSH connection") in lines
    assert all(level == "error" for level, _ in lines[2:])


def test_no_host_converged():
    lines = render(["a"], {"a": "refused"})
    assert lines[0] == ("info", "--> edgewasm: 0 of 1 hosts converged")
    assert not any("converged:" in text for _, text in lines)
