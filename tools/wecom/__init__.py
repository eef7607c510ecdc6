"""WeCom's side of the wire, for the simulator, the evaluation and the tests: callbacks
encrypted and signed as WeCom's servers send them (`client`), and a local stand-in of the
WeCom REST API the ingestor enriches contacts from (`api_standin`). Independent of
services.ingestor.wecom on purpose: a second implementation checks interoperability."""
