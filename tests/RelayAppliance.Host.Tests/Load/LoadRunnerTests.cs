using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using RelayAppliance.Host.Commands;
using RelayAppliance.Host.Load;
using RelayAppliance.Server.Policy;
using RelayAppliance.Server.Smtp;
using RelayAppliance.Spool;

namespace RelayAppliance.Host.Tests.Load;

/// <summary>`relayd load` over real loopback sockets: against relayd's own SMTP server and a scripted peer.</summary>
public sealed class LoadRunnerTests
{
    private static LoadOptions Options(string target, params string[] more) => LoadOptions.Parse(["--target", target, .. more]);

    private static async Task<LoadRunner> RunAsync(LoadOptions options)
    {
        var runner = new LoadRunner(options);
        await runner.RunAsync();
        return runner;
    }

    [Fact]
    public async Task ClosedLoopDeliversExactlyNMessagesIntoRelaydsSpool()
    {
        var directory = Path.Combine(Path.GetTempPath(), "relay-load-" + Guid.NewGuid().ToString("n"));
        Directory.CreateDirectory(directory);
        try
        {
            await using var spool = MessageSpool.Open(new SpoolOptions { Directory = Path.Combine(directory, "spool"), FreeSpaceFloorBytes = 0 },
                NullLoggerFactory.Instance, TimeProvider.System);
            var options = new SmtpServerOptions
            {
                Endpoints = [new ListenEndpoint(new IPEndPoint(IPAddress.Loopback, 0), false)],
                Hostname = "mx.test",
                MaxMessageSize = 1_000_000,
                MaxRecipients = 100,
                ShutdownGrace = TimeSpan.FromSeconds(5),
            };
            var policy = new RelayPolicy(["localhost"], ["loadgen.test"], [IPNetwork.Parse("127.0.0.0/8")]);
            await using var server = new SmtpServer(options, policy, new Server.Accounts.UserStore(directory), spool, NullLoggerFactory.Instance, TimeProvider.System);
            server.Start();

            var runner = await RunAsync(Options($"127.0.0.1:{server.BoundEndPoints[0].Port}",
                "--messages", "60", "--concurrency", "4", "--per-connection", "7", "--size", "2048", "--recipients", "2", "--pipelining"));

            Assert.Equal(60, runner.Statistics.Accepted);
            Assert.Equal(0, runner.Statistics.Failed);
            Assert.Equal(9, runner.Statistics.Connections); // ceil(60 / 7)
            Assert.Equal(60, spool.GetStats().Messages);
            Assert.Equal(120, spool.GetStats().Recipients);
            Assert.Equal(60, runner.Statistics.TimeTo250.Summarize().Count);
            Assert.Equal(9, runner.Statistics.Connect.Summarize().Count);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory]
    [InlineData(23, 5, false)]
    [InlineData(23, 5, true)]
    [InlineData(10, 1, false)]
    public async Task PerConnectionUsesCeilingOfNOverMConnections(int n, int m, bool pipelining)
    {
        await using var peer = new ScriptedSmtpPeer();
        string[] more = ["--messages", n.ToString(), "--per-connection", m.ToString(), "--concurrency", "3"];
        var runner = await RunAsync(Options(peer.Target, pipelining ? [.. more, "--pipelining"] : more));

        Assert.Equal(n, peer.Messages);
        Assert.Equal(n, runner.Statistics.Accepted);
        Assert.Equal((n + m - 1) / m, runner.Statistics.Connections);
        Assert.Equal((n + m - 1) / m, peer.Connections);
    }

    [Fact]
    public async Task UnlimitedPerConnectionKeepsOneConnectionPerWorker()
    {
        await using var peer = new ScriptedSmtpPeer();
        var runner = await RunAsync(Options(peer.Target, "--messages", "30", "--per-connection", "0", "--concurrency", "2"));
        Assert.Equal(30, peer.Messages);
        Assert.True(runner.Statistics.Connections <= 2);
    }

    [Fact]
    public async Task RefusalsAreCountedByReplyCode()
    {
        // Every 3rd message 451 at the final dot, every 5th 554; recipients "+2" refused with 550.
        await using var peer = new ScriptedSmtpPeer(
            n => n % 3 == 0 ? "451 4.3.0 try later" : n % 5 == 0 ? "554 5.6.0 no" : "250 ok",
            line => line.Contains("+2@", StringComparison.Ordinal) ? "550 5.1.1 unknown" : "250 ok");
        var runner = await RunAsync(Options(peer.Target, "--messages", "30", "--concurrency", "2", "--recipients", "2", "--per-connection", "0"));

        var errors = runner.Statistics.Errors.ToDictionary(e => e.Key, e => e.Value);
        Assert.Equal(30, runner.Statistics.Attempted);
        Assert.Equal(10, errors["451"]);
        Assert.Equal(4, errors["554"]); // 5, 10, 20, 25 (15 and 30 are 451)
        Assert.Equal(16, runner.Statistics.Accepted);
        Assert.Equal(30, runner.Statistics.RecipientRefusals.Single(e => e.Key == "550").Value);
    }

    [Fact]
    public async Task ConnectionRefusedIsCountedAndTheRunStillEnds()
    {
        var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        var output = new StringWriter();
        var exit = await LoadCommand.RunAsync(["--target", $"127.0.0.1:{port}", "--messages", "5", "--concurrency", "2"], output, TextWriter.Null);

        Assert.Equal(1, exit); // nothing accepted
        Assert.Contains("refused:5", output.ToString());
    }

    [Fact]
    public async Task OpenLoopSendsOnTheScheduleAndCountsEveryMessage()
    {
        await using var peer = new ScriptedSmtpPeer();
        var runner = await RunAsync(Options(peer.Target, "--rate", "100/s", "--messages", "20", "--concurrency", "4", "--per-connection", "0"));

        Assert.Equal(20, peer.Messages);
        Assert.Equal(20, runner.Statistics.Accepted);
        Assert.Equal(0, runner.Statistics.Unsent);
        // Message 20 is not due before 190 ms: a run that finished sooner ignored the schedule.
        Assert.True(runner.Elapsed >= TimeSpan.FromMilliseconds(190), $"elapsed {runner.Elapsed}");
    }

    [Fact]
    public async Task DurationBoundsARunWithoutACount()
    {
        await using var peer = new ScriptedSmtpPeer();
        var runner = await RunAsync(Options(peer.Target, "--duration", "300ms", "--rate", "50", "--concurrency", "2"));
        Assert.InRange(runner.Statistics.Attempted + runner.Statistics.Unsent, 1, 16 + 1);
        Assert.True(runner.Elapsed < TimeSpan.FromSeconds(10) + LoadRunner.Grace);
    }

    [Theory]
    [InlineData("--concurrency", "0")]
    [InlineData("--messages", "x")]
    [InlineData("--duration", "soon")]
    [InlineData("--rate", "-5/s")]
    [InlineData("--size", "1")]
    [InlineData("--to", "nobody")]
    [InlineData("--bogus", "1")]
    public void ArgumentErrorsNameTheOption(string option, string value)
    {
        var e = Assert.Throws<UsageException>(() => LoadOptions.Parse(["--target", "127.0.0.1:25", option, value]));
        Assert.Contains(option, e.Message);
    }

    [Fact]
    public async Task UsageErrorsExitTwo()
    {
        Assert.Equal(2, await Program.Main(["load", "--target", "127.0.0.1:25", "--recipients", "0"]));
        Assert.Equal(2, await Program.Main(["load", "--messages", "3"])); // no --target
        Assert.Equal(2, await Program.Main(["load", "--target", "192.0.2.1:25"])); // not loopback
        var e = Assert.Throws<UsageException>(() => LoadOptions.Parse(["--target", "192.0.2.1:25"]));
        Assert.Contains("--allow-remote", e.Message);
        Assert.Equal(IPAddress.Parse("192.0.2.1"), LoadOptions.Parse(["--target", "192.0.2.1:25", "--allow-remote"]).EndPoint.Address);
    }

    [Fact]
    public async Task JsonOutputHasTheDocumentedFields()
    {
        await using var peer = new ScriptedSmtpPeer(n => n == 2 ? "451 later" : "250 ok");
        var file = Path.GetTempFileName();
        try
        {
            var output = new StringWriter();
            var exit = await LoadCommand.RunAsync(["--target", peer.Target, "--messages", "5", "--concurrency", "1", "--json", file], output, TextWriter.Null);
            Assert.Equal(0, exit);
            Assert.Contains("time_to_250", output.ToString());

            using var json = JsonDocument.Parse(File.ReadAllBytes(file));
            var root = json.RootElement;
            Assert.Equal("relayd-load/2", root.GetProperty("schema").GetString());
            Assert.True(root.GetProperty("elapsed_s").GetDouble() > 0);
            root.GetProperty("started_at").GetDateTimeOffset();
            var parameters = root.GetProperty("parameters");
            Assert.Equal(peer.Target, parameters.GetProperty("target").GetString());
            Assert.Equal("closed", parameters.GetProperty("mode").GetString());
            Assert.Equal(5, parameters.GetProperty("messages").GetInt64());
            Assert.Equal(60, parameters.GetProperty("duration_s").GetDouble());
            foreach (var name in new[] { "concurrency", "size", "recipients", "per_connection" })
            {
                parameters.GetProperty(name).GetInt32();
            }
            Assert.False(parameters.GetProperty("pipelining").GetBoolean());
            Assert.Equal(JsonValueKind.Null, parameters.GetProperty("rate").ValueKind);
            var totals = root.GetProperty("totals");
            Assert.Equal(5, totals.GetProperty("attempted").GetInt64());
            Assert.Equal(4, totals.GetProperty("accepted").GetInt64());
            Assert.Equal(1, totals.GetProperty("failed").GetInt64());
            Assert.Equal(0, totals.GetProperty("unsent").GetInt64());
            Assert.Equal(5, totals.GetProperty("connections").GetInt64());
            Assert.True(root.GetProperty("rates").GetProperty("accepted_per_s").GetDouble() > 0);
            root.GetProperty("rates").GetProperty("attempted_per_s").GetDouble();
            var latency = root.GetProperty("latency_ms");
            foreach (var histogram in new[] { "connect", "greeting", "time_to_250", "transaction" })
            {
                var h = latency.GetProperty(histogram);
                Assert.True(h.GetProperty("count").GetInt64() > 0, histogram);
                foreach (var p in new[] { "mean", "p50", "p90", "p99", "p99_9", "max" })
                {
                    Assert.True(h.GetProperty(p).GetDouble() >= 0, $"{histogram}.{p}");
                }
            }
            Assert.Equal(1, root.GetProperty("errors").GetProperty("451").GetInt64());
            Assert.Equal(JsonValueKind.Object, root.GetProperty("refused_recipients").ValueKind);
            var machine = root.GetProperty("machine");
            Assert.Equal(Environment.ProcessorCount, machine.GetProperty("cores").GetInt32());
            Assert.False(string.IsNullOrEmpty(machine.GetProperty("os").GetString()));
            // Added in /2.
            Assert.Equal(Environment.MachineName, machine.GetProperty("hostname").GetString());
            Assert.False(string.IsNullOrEmpty(machine.GetProperty("kernel").GetString()));
            Assert.Equal(3, machine.GetProperty("load_avg").GetArrayLength());
            Assert.True(machine.GetProperty("memory_total_bytes").GetInt64() > 1 << 20);
            Assert.Equal(Program.Version, machine.GetProperty("relayd_version").GetString());
            Assert.Equal(5, root.GetProperty("timeline").EnumerateArray().Sum(s => s.GetProperty("attempted").GetInt64()));
            var distribution = root.GetProperty("latency_distribution_ms").GetProperty("time_to_250");
            Assert.Equal(100, distribution.EnumerateArray().Last().GetProperty("p").GetDouble());
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Theory]
    [InlineData(64)]
    [InlineData(300)]
    [InlineData(1024)]
    [InlineData(100_000)]
    public void TheMessageIsExactlyTheRequestedSizeInCrlfLines(int size)
    {
        var options = Options("127.0.0.1:25", "--size", size.ToString());
        var body = new LoadMessage(options).Body;
        Assert.True(body.AsSpan().EndsWith("\r\n.\r\n"u8));
        var content = body.AsSpan(0, body.Length - 3);
        Assert.InRange(content.Length, size, size + 300); // below the header size it grows to fit the headers
        if (size >= 1024)
        {
            Assert.Equal(size, content.Length);
        }
        for (var i = 0; i < content.Length; i++)
        {
            Assert.True(content[i] != '\r' || content[i + 1] == '\n', $"bare CR at {i}");
            Assert.True(content[i] != '\n' || content[i - 1] == '\r', $"bare LF at {i}");
        }
    }
}
