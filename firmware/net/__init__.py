"""The radio and the registry's wire: Wi-Fi, HTTP over TLS, the signed requests; below sync and payout."""
