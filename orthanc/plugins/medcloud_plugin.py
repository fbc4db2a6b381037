"""MedCloud's Orthanc Python plugin.

Loaded by Orthanc's Python plugin (Debian's orthanc-python, run by the system Python). It exposes
`/medcloud/plugin` so that the backend's health check can tell the plugin is loaded.
"""

import json

import orthanc  # provided by the Orthanc Python plugin at run time

PLUGIN_VERSION = "1"


def on_plugin_info(output, uri, **request):
    if request["method"] != "GET":
        output.SendMethodNotAllowed("GET")
        return
    body = json.dumps({"plugin": "medcloud", "version": PLUGIN_VERSION})
    output.AnswerBuffer(body, "application/json")


orthanc.RegisterRestCallback("/medcloud/plugin", on_plugin_info)
