# Broker semantics: synchronous, no bytes, no trio. Every function here runs to completion, so each
# AMQP command is applied atomically with respect to every other connection.
