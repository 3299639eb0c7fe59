using System.Text;
using RelayAppliance.Delivery.Outbound;

namespace RelayAppliance.Delivery.Tests.Outbound;

internal static class OutboundTestKit
{
    public static OutboundOptions Options(TimeSpan? timeout = null)
    {
        var t = timeout ?? TimeSpan.FromSeconds(10);
        return new OutboundOptions
        {
            HeloName = "client.test",
            ConnectTimeout = t,
            GreetingTimeout = t,
            CommandTimeout = t,
            DataInitiationTimeout = t,
            DataBlockTimeout = t,
            DataTerminationTimeout = t,
        };
    }

    public static OutboundMessage Message(string body, params string[] recipients) =>
        Message(Encoding.UTF8.GetBytes(body), recipients);

    /// <summary>The body is written in pieces of <paramref name="piece"/> bytes, so line starts fall on write boundaries.</summary>
    public static OutboundMessage Message(byte[] body, string[] recipients, int piece = int.MaxValue, bool eightBit = false, bool utf8 = false, string sender = "alice@example.org") =>
        new(sender, recipients, body.Length, eightBit, utf8, async (stream, ct) =>
        {
            for (var offset = 0; offset < body.Length; offset += piece)
            {
                await stream.WriteAsync(body.AsMemory(offset, Math.Min(piece, body.Length - offset)), ct);
            }
        });

    public static Task<SmtpOutboundConnection> ConnectAsync(
        System.Net.IPEndPoint endPoint, TlsPolicy tls = TlsPolicy.None, SmtpCredentials? credentials = null, OutboundOptions? options = null) =>
        SmtpOutboundConnection.ConnectAsync(endPoint, "mx.test", tls, credentials, options ?? Options(), CancellationToken.None);
}
