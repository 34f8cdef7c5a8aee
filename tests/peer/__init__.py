"""Peer tests against PyPI evsemaster: its FakeEvse, and its client on our simulator."""
