"""Domain package of the Sinch messaging gateway, deployed as a Lambda layer.

Dependencies point one way: handlers -> service modules -> adapters (aws, sinch).
"""
