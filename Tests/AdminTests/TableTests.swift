import Admin
import Testing

/// The reply shapes of docs/admin-protocol.md, verbatim.
let sampleStatus = #"{"ok":true,"version":"0.1.0","uptime_s":12.3,"workers":2,"generation":7,"split":{"blue":90,"green":10},"config_split":{"blue":100,"green":0},"overrides":["split"],"pools":{"blue":{"split":90,"servers":[{"address":"127.0.0.1:9101","weight":2,"config_weight":2,"state":"ready","in_flight":0,"connections":3}]}}}"#
let sampleStats = #"{"ok":true,"window_s":10,"pools":{"blue":{"servers":[{"address":"127.0.0.1:9101","requests":1234,"rate":98.5,"responses":{"2xx":1200,"3xx":0,"4xx":30,"5xx":4},"proxy_errors":{"502":1,"503":0,"504":0},"in_flight":2,"latency_ms":{"window":{"p50":1.2,"p90":3.4,"p99":9.9},"total":{"p50":1.1,"p90":3.0,"p99":8.0}}}]}}}"#

@Suite struct TableTests {
    @Test func statusSample() throws {
        #expect(StatusTable.render(try JSONValue.parse(sampleStatus)) == """
        switchyard 0.1.0, up 12.3s, 2 workers, generation 7
        split: blue=90 green=10 *  (config: blue=100 green=0)

        pool blue (split 90)
          SERVER          WEIGHT  STATE  IN-FLIGHT  CONNS
          127.0.0.1:9101       2  ready          0      3

        * differs from the config file (overrides: split)

        """)
    }

    @Test func statusMarksWeightsHealthAndIgnoresUnknownFields() throws {
        let reply = try JSONValue.parse("""
        {"ok":true,"uptime_s":3725,"workers":1,"future_field":{"x":1},
         "split":{"blue":100,"green":0},"config_split":{"blue":100,"green":0},
         "pools":{
          "blue":{"split":100,"servers":[
            {"address":"127.0.0.1:9101","weight":5,"config_weight":2,"state":"ready","health":"up","in_flight":12,"connections":40,"extra":true},
            {"address":"[::1]:9102","weight":2,"config_weight":2,"state":"draining","in_flight":0,"connections":0},
            {"address":"127.0.0.1:9103","weight":1,"config_weight":null,"state":"ready","health":"down","in_flight":0,"connections":1}]},
          "green":{"split":0,"servers":[]}}}
        """)
        #expect(StatusTable.render(reply) == """
        up 1h 02m, 1 worker
        split: blue=100 green=0

        pool blue (split 100)
          SERVER          WEIGHT  STATE          HEALTH  IN-FLIGHT  CONNS
          127.0.0.1:9101      5*  ready          up             12     40
          [::1]:9102           2  draining*      -               0      0
          127.0.0.1:9103      1*  ready (added)  down            0      1

        pool green (split 0)
          (no servers)

        * differs from the config file

        """)
    }

    /// What the proxy's bridge sends today: `ready`, `clients`, `added`/`removed` servers, drained state.
    @Test func statusRuntimeChanges() throws {
        let reply = try JSONValue.parse("""
        {"ok":true,"version":"0.1.0","ready":false,"uptime_s":90061,"workers":2,"generation":9,"clients":17,
         "split":{"blue":90,"green":10},"config_split":{"blue":90,"green":10},
         "overrides":["blue/127.0.0.1:9101 draining","blue/127.0.0.1:9109 added","blue/127.0.0.1:9102 removed"],
         "pools":{"blue":{"split":90,"servers":[
           {"address":"127.0.0.1:9101","weight":2,"config_weight":2,"state":"drained","in_flight":0,"connections":0},
           {"address":"127.0.0.1:9109","weight":1,"added":true,"state":"ready","in_flight":1,"connections":1},
           {"address":"127.0.0.1:9102","weight":0,"removed":true,"state":"draining","in_flight":4,"connections":4}]}}}
        """)
        #expect(StatusTable.render(reply) == """
        switchyard 0.1.0, up 1d 01h, 2 workers, generation 9, 17 clients, NOT READY (shutting down)
        split: blue=90 green=10

        pool blue (split 90)
          SERVER          WEIGHT  STATE                IN-FLIGHT  CONNS
          127.0.0.1:9101       2  drained*                     0      0
          127.0.0.1:9109      1*  ready (added)                1      1
          127.0.0.1:9102      0*  draining* (removed)          4      4

        * differs from the config file (overrides: blue/127.0.0.1:9101 draining, blue/127.0.0.1:9109 added, blue/127.0.0.1:9102 removed)

        """)
    }

    @Test func statusShowsTheRolloutInOneLine() throws {
        let reply = try JSONValue.parse("""
        {"ok":true,"split":{"blue":95,"green":5},
         "rollout":{"id":1764082000123,"state":"running","new_pool":"green","old_pool":"blue","percent":5},
         "pools":{}}
        """)
        #expect(StatusTable.render(reply) == """
        split: blue=95 green=5
        rollout 1764082000123: green from blue, running, 5% on green (yardctl rollout status)

        """)
        let ended = try JSONValue.parse("""
        {"ok":true,"split":{"blue":100,"green":0},
         "rollout":{"id":7,"state":"rolled-back","new_pool":"green","old_pool":"blue","percent":0},"pools":{}}
        """)
        #expect(StatusTable.render(ended).contains("rollout 7: green from blue, rolled-back, 0% on green\n"))
        let none = try JSONValue.parse(#"{"ok":true,"split":{"blue":100},"rollout":null,"pools":{}}"#)
        #expect(!StatusTable.render(none).contains("rollout"))
    }

    @Test func statusWithoutConfigInformationHasNoMarkers() throws {
        let reply: JSONValue = ["ok": true, "split": ["blue": 1],
                                "pools": ["blue": ["servers": [["address": "1.2.3.4:80", "weight": 1]]]]]
        let text = StatusTable.render(reply)
        #expect(text == """
        split: blue=1

        pool blue
          SERVER      WEIGHT  STATE  IN-FLIGHT  CONNS
          1.2.3.4:80       1  -              -      -

        """)
        #expect(!text.contains("*"))
    }

    @Test func statsSample() throws {
        #expect(StatsTable.render(try JSONValue.parse(sampleStats)) == """
        counts since start; REQ/S and latency (ms) over the last 10 s

        pool blue
          SERVER          REQUESTS  REQ/S   2XX  3XX  4XX  5XX  502  503  504  ERR%  P50ms  P99ms  IN-FLIGHT
          127.0.0.1:9101      1234   98.5  1200    0   30    4    1    0    0   0.4   1.20   9.90          2

        """)
    }

    @Test func statsTotalsAndMissingValues() throws {
        let reply = try JSONValue.parse("""
        {"ok":true,"window_s":10,"pools":{
          "green":{"servers":[
            {"address":"10.0.0.1:80","requests":200000,"rate":1500.25,"responses":{"2xx":199999,"3xx":0,"4xx":0,"5xx":0},
             "proxy_errors":{"502":1,"503":0,"504":0},"in_flight":3,"latency_ms":{"window":{"p50":0.456,"p99":123.4}}},
            {"address":"10.0.0.2:80","requests":0,"rate":0.0,"responses":{"2xx":0,"3xx":0,"4xx":0,"5xx":0},
             "proxy_errors":{"502":0,"503":0,"504":0},"in_flight":0,"latency_ms":{"window":{"p50":null,"p99":null}}},
            {"address":"10.0.0.3:80"}]},
          "empty":{"servers":[]}}}
        """)
        #expect(StatsTable.render(reply) == """
        counts since start; REQ/S and latency (ms) over the last 10 s

        pool green
          SERVER       REQUESTS   REQ/S     2XX  3XX  4XX  5XX  502  503  504  ERR%  P50ms  P99ms  IN-FLIGHT
          10.0.0.1:80    200000  1500.3  199999    0    0    0    1    0    0  <0.1   0.46    123          3
          10.0.0.2:80         0     0.0       0    0    0    0    0    0    0     -      -      -          0
          10.0.0.3:80         -       -       -    -    -    -    -    -    -     -      -      -          -
          total          200000  1500.3  199999    0    0    0    1    0    0  <0.1      -      -          3

        pool empty
          (no servers)

        """)
    }

    /// Requests that found no server (pool-level 503s) get their own row and count in the total.
    @Test func statsPoolLevelErrors() throws {
        let reply = try JSONValue.parse("""
        {"ok":true,"window_s":10,"pools":{
          "blue":{"split":100,"proxy_errors":{"503":5},"servers":[
            {"address":"10.0.0.1:80","requests":95,"retries":0,"responses":{"2xx":95,"3xx":0,"4xx":0,"5xx":0},
             "proxy_errors":{"502":0,"503":0,"504":0},"rate":9.5,"in_flight":0,
             "latency_ms":{"window":{"p50":1.0,"p90":2.0,"p99":3.0},"total":{"p50":1.0,"p90":2.0,"p99":3.0}}}]},
          "green":{"split":0,"proxy_errors":{"503":0},"servers":[]}}}
        """)
        #expect(StatsTable.render(reply) == """
        counts since start; REQ/S and latency (ms) over the last 10 s

        pool blue (split 100)
          SERVER       REQUESTS  REQ/S  2XX  3XX  4XX  5XX  502  503  504   ERR%  P50ms  P99ms  IN-FLIGHT
          10.0.0.1:80        95    9.5   95    0    0    0    0    0    0    0.0   1.00   3.00          0
          (no server)         5      -    -    -    -    -    -    5    -  100.0      -      -          -
          total             100    9.5   95    0    0    0    0    5    0    5.0      -      -          0

        pool green (split 0)
          (no servers)

        """)
    }

    @Test func errorPercentCountsServerAndProxyErrors() throws {
        let reply: JSONValue = ["ok": true, "window_s": 10, "pools": ["b": ["servers": [[
            "address": "1.1.1.1:1", "requests": 200, "rate": 1,
            "responses": ["2xx": 180, "3xx": 0, "4xx": 10, "5xx": 6], "proxy_errors": ["502": 2, "503": 1, "504": 1],
        ]]]]]
        // (6 + 2 + 1 + 1) / 200 = 5%; 4xx are the client's fault, not errors.
        #expect(StatsTable.render(reply).contains("   5.0 "))
    }

    @Test func commandSummaries() {
        let split: JSONValue = ["ok": true, "split": ["blue": 90, "green": 10], "generation": 8]
        #expect(CommandSummary.render(.split([]), reply: split) == "split is now blue=90 green=10 (generation 8)")
        let server: JSONValue = ["ok": true, "pool": "blue",
                                 "server": ["address": "127.0.0.1:9101", "weight": 2, "config_weight": 2,
                                            "state": "draining", "in_flight": 3, "connections": 3]]
        #expect(CommandSummary.render(.serverDrain(pool: "blue", address: "127.0.0.1:9101"), reply: server) ==
                "draining: pool blue server 127.0.0.1:9101 (weight 2, state draining, in-flight 3)")
        #expect(CommandSummary.render(.serverWeight(pool: "blue", address: "127.0.0.1:9101", weight: 2), reply: server)
                .hasPrefix("weight set: pool blue server 127.0.0.1:9101"))
        #expect(CommandSummary.render(.serverRemove(pool: "blue", address: "1.2.3.4:5"), reply: ["ok": true]) ==
                "removed: pool blue server 1.2.3.4:5")
        #expect(CommandSummary.render(.reload, reply: ["ok": true, "generation": 12, "replaced_runtime_changes": ["split"],
                                                    "notes": ["workers changes need a restart"]]) == """
            reloaded (generation 12)
            runtime changes replaced by the file: split
            note: workers changes need a restart
            """)
        #expect(CommandSummary.render(.shutdown, reply: ["ok": true, "shutting_down": true]) ==
                "shutting down: draining connections, then exiting")
        #expect(CommandSummary.render(.help, reply: AdminReply.help()).hasPrefix("commands:\n  status\n  stats\n  split POOL=WEIGHT"))
    }
}
