vcl 4.1;
# Varnish in front of the peer origin; the built-in VCL already honors s-maxage.
backend origin { .host = "127.0.0.1"; .port = "9101"; }
