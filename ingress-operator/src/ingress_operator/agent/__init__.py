"""The HAProxy agent: keeps a running HAProxy (master-worker mode) serving the routing table.

HAProxy and its agent have separate lifetimes: HAProxy runs on its own (:mod:`ingress_operator.agent.haproxy`, the
chart's haproxy container) from the files in the state directory they share, and never depends on the agent or the
API server to keep serving. The agent (``python -m ingress_operator.agent``, the other container) follows the
table's ConfigMap with operatorkit's :class:`~operatorkit.Informer` (relists, resumes, backs off; no error ends it)
and drives HAProxy only through its sockets. A change that only moves hostnames or servers goes through HAProxy's
runtime API (maps, ``set server``) — no reload, no dropped connection. A change of shape (a new block of backends, a
frontend port) renders a new configuration, checks it with ``haproxy -c``, and reloads seamlessly through the
master socket (the master passes the listening sockets to the new worker); a configuration HAProxy refuses leaves
the running one serving and is reported per backend on ``GET /status``, which the operator turns into conditions.
The files on disk are always rewritten first, so a restarted HAProxy comes back with the same routes; an agent that
starts reads back what HAProxy serves (maps, servers, frontends, through the runtime API) and applies the table as
a difference from that.
"""
