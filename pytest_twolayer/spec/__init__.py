"""The contract and the independent reference: what an implementation declares and must
compute (dims, optimizers, the Protocol and its validation), the float64 numpy reference of
the network, and the tolerances that compare the two. Imports nothing else of the plugin.
"""
