def test_highstate_renders(sandbox):
    ret = sandbox.salt_call("state.highstate")
    assert all(v["result"] for v in ret.values()), ret
    assert sandbox.path("/etc/yum.repos.d/securityonion.repo").exists()
    assert "oracle9" in sandbox.path("/etc/yum.repos.d/securityonion.repo").read_text()
