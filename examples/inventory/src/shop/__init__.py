"""The shop: hand-written code beside the modules greeter.build generates in shop.v1."""
