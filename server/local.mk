# server: rules are added by the part that builds here.
