# Group data of the example fleet (inventories/edge.py) and the test bed, not a default:
# hosts in their raspberry_pi group get it. Raspberry Pi boards: SD cards wear out under
# swap, and 2-4 GB boards need every page K3s can get to be predictable.
preflight_swap = "disable"
