"""The run pipeline: request -> session -> journal -> isolation -> one result builder.

``request`` (what to run, validated once) is carried out either in this
process (``inprocess``) or in isolated children (``isolate``, reading the
``journal`` each child's ``session`` writes); both feed the same events to
``verdicts.build_result``, which gives ``result.RunResult``. Importing this
package imports none of its modules.
"""
