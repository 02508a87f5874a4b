"""The HAProxy agent: runs HAProxy in master-worker mode and keeps it serving the routing table.

It watches the table's ConfigMap; a change that only moves hostnames or servers goes through HAProxy's runtime
API (maps, ``set server``) — no reload, no dropped connection. A change of shape (a new block of backends, a
frontend port) renders a new configuration, checks it with ``haproxy -c``, and reloads seamlessly (the master
passes the listening sockets to the new worker); a configuration HAProxy refuses leaves the running one serving
and is reported per backend on ``GET /status``, which the operator turns into conditions. The files on disk are
always rewritten first, so a restarted HAProxy comes back with the same routes.
"""
