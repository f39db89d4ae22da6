# Raspberry Pi boards: SD cards wear out under swap, and 2-4 GB boards need every page
# K3s can get to be predictable.
preflight_swap = "disable"
