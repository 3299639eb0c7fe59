using System.Net;
using System.Text.Json;
using RelayAppliance.Host.Commands;

namespace RelayAppliance.Host.Tests;

public sealed class SinkCommandTests
{
    [Theory]
    [InlineData(new string[0], "--listen")]
    [InlineData(new[] { "--listen" }, "--listen needs a value")]
    [InlineData(new[] { "--listen", "nonsense" }, "--listen")]
    [InlineData(new[] { "--listen", "0.0.0.0:2525" }, "--allow-remote")]
    [InlineData(new[] { "--listen", "*:2525" }, "--allow-remote")]
    [InlineData(new[] { "--listen", "127.0.0.1:0", "--reply-mix", "250:90,399:10" }, "--reply-mix")]
    [InlineData(new[] { "--listen", "127.0.0.1:0", "--reply-mix", "250" }, "--reply-mix")]
    [InlineData(new[] { "--listen", "127.0.0.1:0", "--delay", "-5" }, "--delay")]
    [InlineData(new[] { "--listen", "127.0.0.1:0", "--delay", "abc" }, "--delay")]
    [InlineData(new[] { "--listen", "127.0.0.1:0", "--duration", "5x" }, "--duration")]
    [InlineData(new[] { "--listen", "127.0.0.1:0", "--duration", "0" }, "--duration")]
    [InlineData(new[] { "--listen", "127.0.0.1:0", "--bogus" }, "--bogus")]
    public async Task BadArgumentsExit2NamingTheOption(string[] args, string expected)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        Assert.Equal(2, await SinkCommand.RunAsync(args, output, error));
        Assert.Contains(expected, error.ToString(), StringComparison.Ordinal);
        Assert.Equal("", output.ToString());
    }

    [Fact]
    public void GoodArgumentsAreParsed()
    {
        var parsed = SinkCommand.Parse(["--listen", "[::1]:2526", "--reply-mix", "250:90,451:7,550:3", "--delay", "20", "--duration", "2m", "--json", "x.json"]);
        Assert.Equal(new IPEndPoint(IPAddress.IPv6Loopback, 2526), parsed.Listen);
        Assert.Equal(3, parsed.ReplyMix.Count);
        Assert.Equal(TimeSpan.FromMilliseconds(20), parsed.Delay);
        Assert.Equal(TimeSpan.FromMinutes(2), parsed.Duration);
        Assert.Equal("x.json", parsed.JsonFile);
        Assert.True(SinkCommand.Parse(["--listen", "0.0.0.0:2525", "--allow-remote"]).AllowRemote);
    }

    [Fact]
    public async Task ShortRunWritesTheSummaryAndJson()
    {
        var json = Path.GetTempFileName();
        try
        {
            var output = new StringWriter();
            var error = new StringWriter();
            Assert.Equal(0, await SinkCommand.RunAsync(["--listen", "127.0.0.1:0", "--duration", "1", "--json", json, "--reply-mix", "250:1,451:1"], output, error));
            Assert.Contains("0 messages", output.ToString(), StringComparison.Ordinal);
            using var document = JsonDocument.Parse(await File.ReadAllTextAsync(json));
            Assert.Equal(0, document.RootElement.GetProperty("messages").GetInt64());
            Assert.Equal(0, document.RootElement.GetProperty("replies").GetProperty("451").GetInt64());
            Assert.Equal("250:1,451:1", document.RootElement.GetProperty("replyMix").GetString());
        }
        finally
        {
            File.Delete(json);
        }
    }
}
