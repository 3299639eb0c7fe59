using System.Text;

namespace RelayAppliance.Server.Tests;

public sealed class LimitTests
{
    [Fact]
    public async Task CommandLineLongerThan512IsRefusedAndTheSessionContinues()
    {
        await using var relay = await RelayFixture.StartAsync();
        await using var client = await RawSmtpClient.ConnectAsync(relay.Port);
        Assert.StartsWith("500 5.5.2", await client.CommandAsync("NOOP " + new string('x', 600)));
        Assert.StartsWith("500 5.5.2", await client.CommandAsync("NOOP " + new string('x', 5000)));
        Assert.StartsWith("250", await client.CommandAsync("NOOP"));
    }

    [Fact]
    public async Task TextLineLongerThan1000RejectsTheMessageAndTheSessionContinues()
    {
        await using var relay = await RelayFixture.StartAsync();
        await using var client = await RawSmtpClient.OpenTransactionAsync(relay.Port);
        Assert.StartsWith("354", await client.CommandAsync("DATA"));
        Assert.StartsWith("500 5.5.2", await client.CommandAsync(new string('y', 1200) + "\r\n."));
        Assert.StartsWith("250", await client.CommandAsync("NOOP"));
        Assert.Empty(relay.Spool.List());
    }

    [Fact]
    public async Task RecipientsBeyondTheLimitGet452()
    {
        await using var relay = await RelayFixture.StartAsync();
        await using var client = await RawSmtpClient.OpenTransactionAsync(relay.Port);
        var pipelined = new StringBuilder();
        for (var i = 2; i <= 101; i++)
        {
            pipelined.Append($"RCPT TO:<r{i}@localhost>\r\n");
        }
        await client.SendAsync(pipelined.ToString());
        for (var i = 2; i <= 100; i++)
        {
            Assert.StartsWith("250", await client.ReadReplyAsync());
        }
        Assert.StartsWith("452 4.5.3", await client.ReadReplyAsync());
        Assert.StartsWith("354", await client.CommandAsync("DATA"));
        Assert.StartsWith("250", await client.CommandAsync("x\r\n."));
        Assert.Equal(100, Assert.Single(relay.Spool.List()).Recipients.Count);
    }

    [Fact]
    public async Task DeclaredSizeOverTheLimitIsRefusedAtMail()
    {
        await using var relay = await RelayFixture.StartAsync();
        await using var client = await RawSmtpClient.ConnectAsync(relay.Port);
        Assert.Contains("SIZE 1000000", await client.CommandAsync("EHLO c"));
        Assert.StartsWith("552 5.3.4", await client.CommandAsync("MAIL FROM:<a@example.org> SIZE=2000000"));
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@example.org> SIZE=1000"));
    }

    [Fact]
    public async Task OversizedDataIsRefusedWhileStreamingAndTheSessionStaysUsable()
    {
        await using var relay = await RelayFixture.StartAsync();
        await using var client = await RawSmtpClient.OpenTransactionAsync(relay.Port);
        Assert.StartsWith("354", await client.CommandAsync("DATA"));
        var line = new string('z', 998) + "\r\n";
        var body = new StringBuilder();
        for (var i = 0; i < 1500; i++)
        {
            body.Append(line); // 1.5 MB against a 1 MB limit
        }
        await client.SendAsync(body.ToString() + ".\r\n");
        Assert.StartsWith("552 5.3.4", await client.ReadReplyAsync());
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@example.org>"));
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<b@localhost>"));
        Assert.StartsWith("354", await client.CommandAsync("DATA"));
        Assert.StartsWith("250 2.0.0", await client.CommandAsync("small\r\n."));
        Assert.Single(relay.Spool.List());
    }

    [Fact]
    public async Task OversizedBdatIsRefusedAtLast()
    {
        await using var relay = await RelayFixture.StartAsync();
        await using var client = await RawSmtpClient.OpenTransactionAsync(relay.Port);
        var chunk = new byte[600_000];
        Array.Fill(chunk, (byte)'q');
        await client.SendAsync("BDAT 600000\r\n");
        await client.SendAsync(chunk);
        Assert.StartsWith("250", await client.ReadReplyAsync());
        await client.SendAsync("BDAT 600000 LAST\r\n");
        await client.SendAsync(chunk);
        Assert.StartsWith("552 5.3.4", await client.ReadReplyAsync());
        Assert.StartsWith("250", await client.CommandAsync("NOOP"));
        Assert.Empty(relay.Spool.List());
    }

    [Fact]
    public async Task TooManyBadCommandsCloseTheSession()
    {
        await using var relay = await RelayFixture.StartAsync(configure: o => o with { MaxBadCommands = 5 });
        await using var client = await RawSmtpClient.ConnectAsync(relay.Port);
        for (var i = 0; i < 4; i++)
        {
            Assert.StartsWith("500", await client.CommandAsync("BOGUS"));
        }
        Assert.StartsWith("421 4.7.0", await client.CommandAsync("BOGUS"));
        Assert.True(await client.IsClosedAsync());
    }

    [Fact]
    public async Task IdleSessionIsClosedWith421()
    {
        await using var relay = await RelayFixture.StartAsync(configure: o => o with { IdleTimeout = TimeSpan.FromMilliseconds(500) });
        await using var client = await RawSmtpClient.ConnectAsync(relay.Port);
        Assert.StartsWith("421 4.4.2", await client.ReadReplyAsync());
        Assert.True(await client.IsClosedAsync());
    }

    [Fact]
    public async Task ConnectionsPerClientBeyondTheLimitGet421()
    {
        await using var relay = await RelayFixture.StartAsync(trusted: false, configure: o => o with { MaxConnectionsPerClient = 2 });
        await using var first = await RawSmtpClient.ConnectAsync(relay.Port);
        await using var second = await RawSmtpClient.ConnectAsync(relay.Port);
        await using var third = await RawSmtpClient.ConnectAsync(relay.Port, readGreeting: false);
        Assert.StartsWith("421 4.7.0", await third.ReadReplyAsync());
        Assert.True(await third.IsClosedAsync());
        Assert.StartsWith("250", await first.CommandAsync("NOOP"));
    }

    [Fact]
    public async Task TrustedClientsHaveNoPerClientLimit()
    {
        await using var relay = await RelayFixture.StartAsync(trusted: true, configure: o => o with { MaxConnectionsPerClient = 1 });
        await using var first = await RawSmtpClient.ConnectAsync(relay.Port);
        await using var second = await RawSmtpClient.ConnectAsync(relay.Port);
        Assert.StartsWith("250", await second.CommandAsync("NOOP"));
    }

    [Fact]
    public async Task ConnectionsBeyondTheTotalGet421()
    {
        await using var relay = await RelayFixture.StartAsync(trusted: true, configure: o => o with { MaxConnections = 1 });
        await using var first = await RawSmtpClient.ConnectAsync(relay.Port);
        await using var second = await RawSmtpClient.ConnectAsync(relay.Port, readGreeting: false);
        Assert.StartsWith("421 4.7.0", await second.ReadReplyAsync());
    }

    [Fact]
    public async Task ShutdownLetsAnOpenDataTransactionFinish()
    {
        var relay = await RelayFixture.StartAsync();
        try
        {
            await using var busy = await RawSmtpClient.OpenTransactionAsync(relay.Port);
            await using var idle = await RawSmtpClient.ConnectAsync(relay.Port);
            Assert.StartsWith("354", await busy.CommandAsync("DATA"));
            await busy.SendAsync("Subject: in flight\r\n\r\n");
            var stopping = relay.Server.StopAsync();
            Assert.StartsWith("421 4.3.2", await idle.ReadReplyAsync());
            await busy.SendAsync("last line\r\n.\r\n");
            Assert.StartsWith("250 2.0.0", await busy.ReadReplyAsync());
            await stopping;
            Assert.Single(relay.Spool.List());
        }
        finally
        {
            await relay.DisposeAsync();
        }
    }

    [Fact]
    public async Task BelowTheFreeSpaceFloorNewMailGets452()
    {
        await using var relay = await RelayFixture.StartAsync(freeSpaceFloor: long.MaxValue);
        await using var client = await RawSmtpClient.ConnectAsync(relay.Port);
        Assert.StartsWith("250", await client.CommandAsync("EHLO c"));
        Assert.StartsWith("452 4.3.1", await client.CommandAsync("MAIL FROM:<a@example.org>"));
    }

    [Fact]
    public async Task ACommitFailureAnswers451AndStopsAccepting()
    {
        await using var relay = await RelayFixture.StartAsync();
        await using var client = await RawSmtpClient.OpenTransactionAsync(relay.Port);
        Assert.StartsWith("354", await client.CommandAsync("DATA"));
        relay.Spool.Journal.Fail(new IOException("simulated device error"));
        Assert.StartsWith("451 4.3.0", await client.CommandAsync("lost\r\n."));
        Assert.StartsWith("451 4.3.0", await client.CommandAsync("MAIL FROM:<a@example.org>"));
        Assert.Empty(relay.Spool.List());
    }
}
