using System.Diagnostics;
using System.Text;
using MailKit.Net.Pop3;
using MailKit.Security;

namespace RelayAppliance.Server.Tests.Pop3;

/// <summary>The POP3 server as a real client (MailKit's Pop3Client) sees it.</summary>
public sealed class Pop3MailKitTests
{
    internal const string DottedMessage =
        "From: a@example.org\r\nTo: alice@localhost\r\nSubject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n";

    internal static byte[] EightBitLongLineMessage()
    {
        var text = new MemoryStream();
        text.Write("From: a@example.org\r\nSubject: 8bit\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"u8);
        text.Write([0xE9, 0x74, 0xE9, 0x20, 0xFF, 0x80, 0x0D, 0x0A]);
        text.Write(Encoding.ASCII.GetBytes(new string('x', 5000) + "\r\n"));
        text.Write(Encoding.ASCII.GetBytes("." + new string('y', 3000) + "\r\n"));
        return text.ToArray();
    }

    private static Pop3Client NewClient() => new()
    {
        ServerCertificateValidationCallback = (_, _, _, _) => true,
        CheckCertificateRevocation = false,
    };

    private static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }

    [Fact]
    public async Task LoginWithAuthPlainThenStatListUidlAndByteExactRetr()
    {
        await using var pop = await Pop3Fixture.StartAsync();
        var eightBit = EightBitLongLineMessage();
        var uid1 = pop.Store.Deliver(Pop3Fixture.Alice, DottedMessage);
        var uid2 = pop.Store.Deliver(Pop3Fixture.Alice, eightBit);
        pop.Store.Deliver(Pop3Fixture.Bob, "Subject: not alice's\r\n\r\nx\r\n");

        using var client = NewClient();
        await client.ConnectAsync("127.0.0.1", pop.Port, SecureSocketOptions.None);
        Assert.True(client.Capabilities.HasFlag(Pop3Capabilities.UIDL));
        Assert.True(client.Capabilities.HasFlag(Pop3Capabilities.Top));
        Assert.True(client.Capabilities.HasFlag(Pop3Capabilities.Pipelining));
        Assert.Contains("PLAIN", client.AuthenticationMechanisms);
        await client.AuthenticateAsync(Pop3Fixture.Alice, Pop3Fixture.AlicePassword);

        Assert.Equal(2, client.Count);
        Assert.Equal([Encoding.UTF8.GetByteCount(DottedMessage), eightBit.Length], await client.GetMessageSizesAsync());
        Assert.Equal([uid1, uid2], await client.GetMessageUidsAsync());
        Assert.Equal(uid2, await client.GetMessageUidAsync(1));
        Assert.Equal(Encoding.UTF8.GetBytes(DottedMessage), await ReadAllAsync(await client.GetStreamAsync(0)));
        Assert.Equal(eightBit, await ReadAllAsync(await client.GetStreamAsync(1)));
        Assert.Equal("dots", (await client.GetMessageAsync(0)).Subject);
        await client.DisconnectAsync(true);
    }

    [Fact]
    public async Task UserPassLoginAndTopHeadersOnly()
    {
        await using var pop = await Pop3Fixture.StartAsync();
        pop.Store.Deliver(Pop3Fixture.Alice, DottedMessage);
        using var client = NewClient();
        await client.ConnectAsync("127.0.0.1", pop.Port, SecureSocketOptions.None);
        Assert.True(client.Capabilities.HasFlag(Pop3Capabilities.User));
        client.AuthenticationMechanisms.Clear(); // force USER/PASS
        await client.AuthenticateAsync("ALICE@localhost", Pop3Fixture.AlicePassword); // user names are case-insensitive
        var headers = await ReadAllAsync(await client.GetStreamAsync(0, headersOnly: true)); // TOP 1 0
        Assert.Equal("From: a@example.org\r\nTo: alice@localhost\r\nSubject: dots\r\n\r\n", Encoding.ASCII.GetString(headers));
        Assert.Equal("dots", (await client.GetMessageHeadersAsync(0))["Subject"]);
        await client.DisconnectAsync(true);
    }

    [Fact]
    public async Task DeleteThenQuitRemovesTheMessage()
    {
        await using var pop = await Pop3Fixture.StartAsync();
        pop.Store.Deliver(Pop3Fixture.Alice, "Subject: 1\r\n\r\none\r\n");
        var keep = pop.Store.Deliver(Pop3Fixture.Alice, "Subject: 2\r\n\r\ntwo\r\n");
        using (var client = NewClient())
        {
            await client.ConnectAsync("127.0.0.1", pop.Port, SecureSocketOptions.None);
            await client.AuthenticateAsync(Pop3Fixture.Alice, Pop3Fixture.AlicePassword);
            await client.DeleteMessageAsync(0);
            await client.DisconnectAsync(true);
        }
        Assert.Equal([keep], pop.Store.Uids(Pop3Fixture.Alice));
        Assert.Equal(1, pop.Store.Commits);

        using var again = NewClient();
        await again.ConnectAsync("127.0.0.1", pop.Port, SecureSocketOptions.None);
        await again.AuthenticateAsync(Pop3Fixture.Alice, Pop3Fixture.AlicePassword);
        Assert.Equal(1, again.Count);
        Assert.Equal(keep, await again.GetMessageUidAsync(0));
        await again.DisconnectAsync(true);
    }

    [Fact]
    public async Task DeleteThenResetKeepsTheMessage()
    {
        await using var pop = await Pop3Fixture.StartAsync();
        var uid = pop.Store.Deliver(Pop3Fixture.Alice, "Subject: 1\r\n\r\none\r\n");
        using var client = NewClient();
        await client.ConnectAsync("127.0.0.1", pop.Port, SecureSocketOptions.None);
        await client.AuthenticateAsync(Pop3Fixture.Alice, Pop3Fixture.AlicePassword);
        await client.DeleteMessageAsync(0);
        await client.ResetAsync();
        await client.DisconnectAsync(true);
        Assert.Equal([uid], pop.Store.Uids(Pop3Fixture.Alice));
        Assert.Equal(0, pop.Store.Commits);
    }

    [Fact]
    public async Task DeleteThenDroppedConnectionKeepsTheMessage()
    {
        await using var pop = await Pop3Fixture.StartAsync();
        var uid = pop.Store.Deliver(Pop3Fixture.Alice, "Subject: 1\r\n\r\none\r\n");
        using (var client = NewClient())
        {
            await client.ConnectAsync("127.0.0.1", pop.Port, SecureSocketOptions.None);
            await client.AuthenticateAsync(Pop3Fixture.Alice, Pop3Fixture.AlicePassword);
            await client.DeleteMessageAsync(0);
            await client.DisconnectAsync(false); // no QUIT
        }
        await pop.Store.WaitUnlockedAsync(Pop3Fixture.Alice);
        Assert.Equal([uid], pop.Store.Uids(Pop3Fixture.Alice));
        Assert.Equal(0, pop.Store.Commits);
    }

    [Fact]
    public async Task SecondLoginToAnOpenMaildropIsRefusedInUse()
    {
        await using var pop = await Pop3Fixture.StartAsync();
        pop.Store.Deliver(Pop3Fixture.Alice, "Subject: 1\r\n\r\none\r\n");
        using var first = NewClient();
        await first.ConnectAsync("127.0.0.1", pop.Port, SecureSocketOptions.None);
        await first.AuthenticateAsync(Pop3Fixture.Alice, Pop3Fixture.AlicePassword);

        var transcript = new MemoryStream();
        using var second = new Pop3Client(new MailKit.ProtocolLogger(transcript, leaveOpen: true));
        await second.ConnectAsync("127.0.0.1", pop.Port, SecureSocketOptions.None);
        await Assert.ThrowsAsync<AuthenticationException>(() => second.AuthenticateAsync(Pop3Fixture.Alice, Pop3Fixture.AlicePassword));
        Assert.Contains("S: -ERR [IN-USE] ", Encoding.UTF8.GetString(transcript.ToArray()));

        await first.DisconnectAsync(true);
        await second.AuthenticateAsync(Pop3Fixture.Alice, Pop3Fixture.AlicePassword); // lock released by QUIT
        Assert.Equal(1, second.Count);
        await second.DisconnectAsync(true);
    }

    [Fact]
    public async Task WrongPasswordIsRefusedAfterTheConfiguredDelay()
    {
        await using var pop = await Pop3Fixture.StartAsync(configure: o => o with { FailedLoginDelay = TimeSpan.FromSeconds(1) });
        using var client = NewClient();
        await client.ConnectAsync("127.0.0.1", pop.Port, SecureSocketOptions.None);
        client.AuthenticationMechanisms.Clear();
        var watch = Stopwatch.StartNew();
        await Assert.ThrowsAsync<AuthenticationException>(() => client.AuthenticateAsync(Pop3Fixture.Alice, "wrong"));
        Assert.True(watch.Elapsed >= TimeSpan.FromSeconds(0.9), $"answered after {watch.Elapsed}");
        await client.AuthenticateAsync(Pop3Fixture.Alice, Pop3Fixture.AlicePassword);
        await client.DisconnectAsync(true);
    }

    [Fact]
    public async Task StlsThenLoginWhenPlaintextAuthIsNotAllowed()
    {
        await using var pop = await Pop3Fixture.StartAsync(tls: true, configure: o => o with { AllowPlaintextAuth = RelayAppliance.Server.Pop3.PlaintextAuthPolicy.Never });
        pop.Store.Deliver(Pop3Fixture.Alice, DottedMessage);
        using var client = NewClient();
        await client.ConnectAsync("127.0.0.1", pop.Port, SecureSocketOptions.StartTls);
        Assert.True(client.IsSecure);
        Assert.True(client.Capabilities.HasFlag(Pop3Capabilities.User)); // re-read after STLS
        await client.AuthenticateAsync(Pop3Fixture.Alice, Pop3Fixture.AlicePassword);
        Assert.Equal(Encoding.UTF8.GetBytes(DottedMessage), await ReadAllAsync(await client.GetStreamAsync(0)));
        await client.DisconnectAsync(true);
    }

    [Fact]
    public async Task ImplicitTls()
    {
        await using var pop = await Pop3Fixture.StartAsync(tls: true, configure: o => o with { AllowPlaintextAuth = RelayAppliance.Server.Pop3.PlaintextAuthPolicy.Never });
        pop.Store.Deliver(Pop3Fixture.Alice, DottedMessage);
        using var client = NewClient();
        await client.ConnectAsync("127.0.0.1", pop.ImplicitTlsPort, SecureSocketOptions.SslOnConnect);
        Assert.False(client.Capabilities.HasFlag(Pop3Capabilities.StartTLS));
        await client.AuthenticateAsync(Pop3Fixture.Alice, Pop3Fixture.AlicePassword);
        Assert.Equal(1, client.Count);
        await client.DisconnectAsync(true);
    }
}
