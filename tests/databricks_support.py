"""A Databricks SQL warehouse at the far end of the wire, for tests (no workspace is reachable).

``on_the_wire(answer)`` swaps the connector's HTTP transport (``databricks.sql.auth.
thrift_http_client.THttpClient``) for one that hands every request's bytes to a Thrift
``TCLIService.Processor`` in the test process, and sends its answer back as bytes. Everything
above that is the real databricks-sql-connector: ``databricks.sql.connect``, ``Connection``,
``Cursor`` (native parameters), ``ThriftDatabricksClient`` and the Thrift binary protocol both
ways. The server records each statement with its parameters as they arrived (type and text) and
answers with what ``answer(sql, params)`` returns: an Arrow table (sent as an Arrow result set,
the way a SQL warehouse sends one), ``None`` (no result: DDL and DML) or an exception (sent as a
failed operation with that message).

The loader's tests (tests/test_ingestion_remote.py) fake one level higher, the DB-API connection;
this fake sits below the connector, so what it records is what Databricks would receive.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pyarrow as pa


@dataclass
class Statement:
    sql: str
    params: list[tuple[str, str | None]]  # (type, value as text) in marker order


Answer = Callable[[str, list[tuple[str, str | None]]], "pa.Table | Exception | None"]


@dataclass
class SqlWarehouse:
    """The remote end: a ``TCLIService`` handler recording what the connector sends."""

    answer: Answer
    statements: list[Statement] = field(default_factory=list)
    sessions: list = field(default_factory=list)  # TOpenSessionReq, as received
    headers: list[dict] = field(default_factory=list)  # HTTP headers of each request
    urls: list[str] = field(default_factory=list)  # where each transport was opened to
    closed_sessions: int = 0

    # ------------------------------------------------------------------ Thrift calls
    def OpenSession(self, req):
        from databricks.sql.thrift_api.TCLIService import ttypes

        self.sessions.append(req)
        return ttypes.TOpenSessionResp(
            status=_ok(),
            serverProtocolVersion=ttypes.TProtocolVersion.SPARK_CLI_SERVICE_PROTOCOL_V7,
            sessionHandle=ttypes.TSessionHandle(sessionId=_handle()),
            canUseMultipleCatalogs=True,
        )

    def CloseSession(self, req):
        from databricks.sql.thrift_api.TCLIService import ttypes

        self.closed_sessions += 1
        return ttypes.TCloseSessionResp(status=_ok())

    def CloseOperation(self, req):
        from databricks.sql.thrift_api.TCLIService import ttypes

        return ttypes.TCloseOperationResp(status=_ok())

    def ExecuteStatement(self, req):
        from databricks.sql.thrift_api.TCLIService import ttypes

        params = [
            (p.type, p.value.stringValue if p.value is not None else None)
            for p in req.parameters or []
        ]
        assert all(p.ordinal for p in req.parameters or []), "positional markers only"
        self.statements.append(Statement(req.statement, params))
        result = self.answer(req.statement, params)
        handle = ttypes.TOperationHandle(
            operationId=_handle(),
            operationType=ttypes.TOperationType.EXECUTE_STATEMENT,
            hasResultSet=True,
        )
        if isinstance(result, Exception):
            failed = ttypes.TGetOperationStatusResp(
                status=_ok(),
                operationState=ttypes.TOperationState.ERROR_STATE,
                errorMessage=str(result),
                displayMessage=str(result),
            )
            return ttypes.TExecuteStatementResp(
                status=_ok(),
                operationHandle=handle,
                directResults=ttypes.TSparkDirectResults(operationStatus=failed),
            )
        table = result if result is not None else pa.table({})
        batches = [
            ttypes.TSparkArrowBatch(batch=b.serialize().to_pybytes(), rowCount=b.num_rows)
            for b in table.to_batches()
        ]
        return ttypes.TExecuteStatementResp(
            status=_ok(),
            operationHandle=handle,
            directResults=ttypes.TSparkDirectResults(
                operationStatus=ttypes.TGetOperationStatusResp(
                    status=_ok(), operationState=ttypes.TOperationState.FINISHED_STATE
                ),
                resultSetMetadata=ttypes.TGetResultSetMetadataResp(
                    status=_ok(),
                    schema=_hive_schema(table.schema),
                    resultFormat=ttypes.TSparkRowSetType.ARROW_BASED_SET,
                    lz4Compressed=False,
                    arrowSchema=table.schema.serialize().to_pybytes(),
                    isStagingOperation=False,
                ),
                resultSet=ttypes.TFetchResultsResp(
                    status=_ok(),
                    hasMoreRows=False,
                    results=ttypes.TRowSet(startRowOffset=0, rows=[], arrowBatches=batches),
                ),
                closeOperation=ttypes.TCloseOperationResp(status=_ok()),
            ),
        )

    # ------------------------------------------------------------------ reading the record
    def sql(self) -> list[str]:
        return [s.sql for s in self.statements]


def _ok():
    from databricks.sql.thrift_api.TCLIService import ttypes

    return ttypes.TStatus(statusCode=ttypes.TStatusCode.SUCCESS_STATUS)


def _handle():
    from databricks.sql.thrift_api.TCLIService import ttypes

    return ttypes.THandleIdentifier(guid=uuid.uuid4().bytes, secret=uuid.uuid4().bytes)


def _hive_schema(schema: pa.Schema):
    """The Thrift description of an Arrow schema (the column types a SQL warehouse reports)."""
    from databricks.sql.thrift_api.TCLIService import ttypes

    t = ttypes.TTypeId

    def entry(type_: pa.DataType):
        qualifiers = None
        if pa.types.is_decimal(type_):
            kind = t.DECIMAL_TYPE
            qualifiers = ttypes.TTypeQualifiers(
                qualifiers={
                    "precision": ttypes.TTypeQualifierValue(i32Value=type_.precision),
                    "scale": ttypes.TTypeQualifierValue(i32Value=type_.scale),
                }
            )
        elif pa.types.is_timestamp(type_):
            kind = t.TIMESTAMP_TYPE
        else:
            kind = {
                pa.int64(): t.BIGINT_TYPE,
                pa.int32(): t.INT_TYPE,
                pa.float64(): t.DOUBLE_TYPE,
                pa.string(): t.STRING_TYPE,
                pa.bool_(): t.BOOLEAN_TYPE,
                pa.date32(): t.DATE_TYPE,
                pa.null(): t.NULL_TYPE,
            }[type_]
        primitive = ttypes.TPrimitiveTypeEntry(type=kind, typeQualifiers=qualifiers)
        return ttypes.TTypeDesc(types=[ttypes.TTypeEntry(primitiveEntry=primitive)])

    return ttypes.TTableSchema(
        columns=[
            ttypes.TColumnDesc(columnName=f.name, typeDesc=entry(f.type), position=i + 1)
            for i, f in enumerate(schema)
        ]
    )


class _Transport:
    """Stands where ``THttpClient`` does: each flushed request runs through the server's
    ``TCLIService.Processor``; its reply is what the next reads return."""

    server: SqlWarehouse  # set by on_the_wire

    def __init__(self, auth_provider=None, uri_or_host=None, ssl_options=None, **_):
        self.auth_provider = auth_provider
        self.server.urls.append(uri_or_host)
        self.code, self.headers = 200, {}
        self._out = bytearray()
        self._in = b""
        self._pos = 0
        self._custom: dict = {}

    def setTimeout(self, ms):  # the Thrift transport's names
        pass

    def setCustomHeaders(self, headers):
        self._custom = dict(headers)

    def set_retry_command_type(self, value):
        pass

    def startRetryTimer(self):
        pass

    def open(self):
        pass

    def close(self):
        pass

    def isOpen(self):
        return True

    def write(self, buf):
        self._out += buf

    def read(self, sz):
        chunk = self._in[self._pos : self._pos + sz]
        self._pos += len(chunk)
        return chunk

    def readAll(self, sz):
        chunk = self.read(sz)
        if len(chunk) != sz:
            raise EOFError(f"wanted {sz} bytes of the reply, {len(chunk)} left")
        return chunk

    def flush(self):
        from databricks.sql.thrift_api.TCLIService import TCLIService
        from thrift.protocol.TBinaryProtocol import TBinaryProtocol
        from thrift.transport.TTransport import TMemoryBuffer

        headers = dict(self._custom)
        if self.auth_provider is not None:
            self.auth_provider.add_headers(headers)
        self.server.headers.append(headers)
        request, reply = TMemoryBuffer(bytes(self._out)), TMemoryBuffer()
        self._out = bytearray()
        TCLIService.Processor(self.server).process(TBinaryProtocol(request), TBinaryProtocol(reply))
        self._in, self._pos = reply.getvalue(), 0


@contextlib.contextmanager
def on_the_wire(answer: Answer) -> Iterator[SqlWarehouse]:
    """The real connector, talking to a ``SqlWarehouse`` that answers with ``answer``."""
    import databricks.sql.client  # noqa: F401 - imports Thrift's transports first, as connect does
    from databricks.sql.auth import thrift_http_client as http

    server = SqlWarehouse(answer)
    transport = type("Transport", (_Transport,), {"server": server})
    real = http.THttpClient
    http.THttpClient = transport
    try:
        yield server
    finally:
        http.THttpClient = real
