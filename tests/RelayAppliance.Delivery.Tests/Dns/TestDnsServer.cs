using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace RelayAppliance.Delivery.Tests.Dns;

/// <summary>
/// A small authoritative DNS server on 127.0.0.1 (UDP and TCP, same port) answering from an in-memory zone, so
/// DnsClient runs for real in tests and the machine's resolver is never asked. RFC 1035 §4 wire format.
/// </summary>
public sealed class TestDnsServer : IAsyncDisposable
{
    internal const ushort TypeA = 1, TypeMx = 15, TypeAaaa = 28;

    private readonly UdpClient _udp;
    private readonly TcpListener _tcp;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _udpLoop, _tcpLoop;
    private readonly ConcurrentDictionary<string, List<Record>> _records = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Behaviour> _behaviours = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string, ushort), int> _queries = new();
    private int _total, _tcpQueries;

    public TestDnsServer()
    {
        // Same port for UDP and TCP, so a TC=1 answer falls back to us over TCP. The UDP port chosen by the system
        // may be taken for TCP (another test's connection): then try another.
        for (var attempt = 1; ; attempt++)
        {
            _udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
            EndPoint = (IPEndPoint)_udp.Client.LocalEndPoint!;
            _tcp = new TcpListener(EndPoint);
            try
            {
                _tcp.Start();
                break;
            }
            catch (SocketException) when (attempt < 20)
            {
                _udp.Dispose();
            }
        }
        _udpLoop = Task.Run(ServeUdpAsync);
        _tcpLoop = Task.Run(ServeTcpAsync);
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>Delay before each answer (to make concurrent lookups overlap).</summary>
    public TimeSpan Delay { get; set; }

    /// <summary>Answer every UDP query with TC=1 and no records, forcing a TCP retry (RFC 7766).</summary>
    public bool TruncateUdp { get; set; }

    public int TotalQueries => Volatile.Read(ref _total);

    public int TcpQueries => Volatile.Read(ref _tcpQueries);

    public int Queries(string name, ushort type) => _queries.GetValueOrDefault((Key(name), type));

    public TestDnsServer Mx(string domain, int preference, string exchange, int ttl = 300) =>
        Add(domain, new Record(TypeMx, ttl, MxData(preference, exchange)));

    /// <summary>RFC 7505 null MX: preference 0, exchange the root.</summary>
    public TestDnsServer NullMx(string domain, int ttl = 300) => Add(domain, new Record(TypeMx, ttl, MxData(0, ".")));

    /// <summary>An A or AAAA record, by the address family.</summary>
    public TestDnsServer Address(string name, string address, int ttl = 300)
    {
        var ip = IPAddress.Parse(address);
        return Add(name, new Record(ip.AddressFamily == AddressFamily.InterNetwork ? TypeA : TypeAaaa, ttl, ip.GetAddressBytes()));
    }

    /// <summary>The name exists but has no records (every query is NODATA).</summary>
    public TestDnsServer Exists(string name) => Add(name, null);

    /// <summary>Drops every record of the name, as when a zone changes.</summary>
    public TestDnsServer Forget(string name)
    {
        _records.TryRemove(Key(name), out _);
        return this;
    }

    public TestDnsServer Fail(string name, Behaviour behaviour)
    {
        _behaviours[Key(name)] = behaviour;
        return this;
    }

    private TestDnsServer Add(string name, Record? record)
    {
        var list = _records.GetOrAdd(Key(name), _ => []);
        lock (list)
        {
            if (record is not null)
            {
                list.Add(record);
            }
        }
        return this;
    }

    private static string Key(string name) => name.TrimEnd('.').ToLowerInvariant();

    private async Task ServeUdpAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            UdpReceiveResult received;
            try
            {
                received = await _udp.ReceiveAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                continue;   // ICMP errors from earlier sends surface here on some platforms
            }
            _ = Task.Run(async () =>
            {
                var answer = await AnswerAsync(received.Buffer, udp: true);
                if (answer is not null)
                {
                    try { await _udp.SendAsync(answer, received.RemoteEndPoint, _stop.Token); }
                    catch (Exception) when (_stop.IsCancellationRequested) { }
                }
            });
        }
    }

    // RFC 1035 §4.2.2: over TCP each message is preceded by its two-octet length.
    private async Task ServeTcpAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _tcp.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            _ = Task.Run(async () =>
            {
                using var _ = client;
                var stream = client.GetStream();
                try
                {
                    var length = new byte[2];
                    while (true)
                    {
                        await stream.ReadExactlyAsync(length, _stop.Token);
                        var query = new byte[BinaryPrimitives.ReadUInt16BigEndian(length)];
                        await stream.ReadExactlyAsync(query, _stop.Token);
                        Interlocked.Increment(ref _tcpQueries);
                        var answer = await AnswerAsync(query, udp: false);
                        if (answer is null)
                        {
                            return;
                        }
                        var framed = new byte[answer.Length + 2];
                        BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)answer.Length);
                        answer.CopyTo(framed, 2);
                        await stream.WriteAsync(framed, _stop.Token);
                    }
                }
                catch (Exception) { /* client went away or we are stopping */ }
            });
        }
    }

    private async Task<byte[]?> AnswerAsync(byte[] query, bool udp)
    {
        if (!TryParseQuery(query, out var id, out var flags, out var name, out var type, out var questionEnd))
        {
            return null;   // not worth a FORMERR in tests
        }
        Interlocked.Increment(ref _total);
        _queries.AddOrUpdate((Key(name), type), 1, (_, n) => n + 1);
        if (Delay > TimeSpan.Zero)
        {
            await Task.Delay(Delay);
        }

        var behaviour = _behaviours.GetValueOrDefault(Key(name));
        if (behaviour == Behaviour.Silent)
        {
            return null;
        }
        List<Record> answers = [];
        var rcode = behaviour switch
        {
            Behaviour.NxDomain => 3,
            Behaviour.ServFail => 2,
            Behaviour.Refused => 5,
            _ => _records.TryGetValue(Key(name), out var records) ? 0 : 3,   // unknown names are NXDOMAIN
        };
        if (rcode == 0 && _records.TryGetValue(Key(name), out var zone))
        {
            lock (zone)
            {
                answers = zone.Where(r => r.Type == type).ToList();
            }
        }
        var truncated = udp && TruncateUdp;
        return WriteResponse(query.AsSpan(0, questionEnd), id, flags, rcode, name, truncated ? [] : answers, truncated);
    }

    // RFC 1035 §4.1.1 header, §4.1.2 question; names as labels, following compression pointers (§4.1.4).
    internal static bool TryParseQuery(ReadOnlySpan<byte> message, out ushort id, out ushort flags, out string name, out ushort type, out int questionEnd)
    {
        (id, flags, name, type, questionEnd) = (0, 0, "", 0, 0);
        if (message.Length < 12 || BinaryPrimitives.ReadUInt16BigEndian(message[4..]) != 1)
        {
            return false;
        }
        id = BinaryPrimitives.ReadUInt16BigEndian(message);
        flags = BinaryPrimitives.ReadUInt16BigEndian(message[2..]);
        var offset = 12;
        if (!TryReadName(message, ref offset, out name) || offset + 4 > message.Length)
        {
            return false;
        }
        type = BinaryPrimitives.ReadUInt16BigEndian(message[offset..]);
        questionEnd = offset + 4;
        return true;
    }

    private static bool TryReadName(ReadOnlySpan<byte> message, ref int offset, out string name)
    {
        var builder = new StringBuilder();
        var position = offset;
        var jumped = false;
        for (var hops = 0; hops < 64; hops++)
        {
            if (position >= message.Length)
            {
                break;
            }
            int length = message[position];
            if ((length & 0xC0) == 0xC0)
            {
                if (position + 1 >= message.Length)
                {
                    break;
                }
                if (!jumped)
                {
                    offset = position + 2;
                }
                jumped = true;
                position = ((length & 0x3F) << 8) | message[position + 1];
                continue;
            }
            if (length == 0)
            {
                if (!jumped)
                {
                    offset = position + 1;
                }
                name = builder.Length == 0 ? "." : builder.ToString();
                return true;
            }
            if (position + 1 + length > message.Length)
            {
                break;
            }
            if (builder.Length > 0)
            {
                builder.Append('.');
            }
            builder.Append(Encoding.ASCII.GetString(message.Slice(position + 1, length)));
            position += 1 + length;
        }
        name = "";
        return false;
    }

    private static byte[] WriteResponse(ReadOnlySpan<byte> queryHeaderAndQuestion, ushort id, ushort queryFlags, int rcode, string name, List<Record> answers, bool truncated)
    {
        var output = new List<byte>(512);
        // QR=1, opcode and RD copied, AA=1, RA=1, TC as asked, RCODE.
        var flags = 0x8000 | (queryFlags & 0x7800) | 0x0400 | (truncated ? 0x0200 : 0) | (queryFlags & 0x0100) | 0x0080 | rcode;
        WriteUInt16(output, id);
        WriteUInt16(output, flags);
        WriteUInt16(output, 1);
        WriteUInt16(output, answers.Count);
        WriteUInt16(output, 0);
        WriteUInt16(output, 0);   // no OPT: EDNS is optional for the client (RFC 6891 §7)
        output.AddRange(queryHeaderAndQuestion[12..].ToArray());
        foreach (var record in answers)
        {
            WriteName(output, name);
            WriteUInt16(output, record.Type);
            WriteUInt16(output, 1);   // IN
            WriteUInt16(output, record.Ttl >> 16);
            WriteUInt16(output, record.Ttl & 0xFFFF);
            WriteUInt16(output, record.Data.Length);
            output.AddRange(record.Data);
        }
        return [.. output];
    }

    private static byte[] MxData(int preference, string exchange)
    {
        var data = new List<byte>();
        WriteUInt16(data, preference);
        WriteName(data, exchange);
        return [.. data];
    }

    private static void WriteName(List<byte> output, string name)
    {
        foreach (var label in name.TrimEnd('.').Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            output.Add((byte)label.Length);
            output.AddRange(Encoding.ASCII.GetBytes(label));
        }
        output.Add(0);
    }

    private static void WriteUInt16(List<byte> output, int value)
    {
        output.Add((byte)(value >> 8));
        output.Add((byte)value);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _udp.Dispose();
        _tcp.Stop();
        await Task.WhenAll(_udpLoop, _tcpLoop);
        _stop.Dispose();
    }

    public enum Behaviour { Normal, NxDomain, ServFail, Refused, Silent }

    private sealed record Record(ushort Type, int Ttl, byte[] Data);
}
