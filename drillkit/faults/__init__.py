"""Faults drillkit can inject: one small module per fault behind one interface (see `toxics`)."""
