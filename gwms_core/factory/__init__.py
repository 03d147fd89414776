"""The factory: publishes entries, reads the frontends' requests from the WMS collector,
and keeps each entry's glideins at what was asked, within limits, through HTCondor-G.

Pure decisions live in :mod:`~gwms_core.factory.decide` over the dataclasses of
:mod:`~gwms_core.factory.model`; ClassAd attribute names in
:mod:`~gwms_core.factory.attrs`; I/O at the edges (:mod:`~gwms_core.factory.schedd`,
:mod:`~gwms_core.factory.collector`, :mod:`~gwms_core.factory.state`); the cycle in
:mod:`~gwms_core.factory.service`. See docs/factory.md.
"""
