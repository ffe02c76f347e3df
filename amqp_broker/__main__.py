# `python -m amqp_broker` is the same as the `amqp-broker` command.
import sys

from amqp_broker.cli import main

sys.exit(main())
