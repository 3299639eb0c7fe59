using System.Net;
using System.Net.Sockets;
using System.Text;
using RelayAppliance.Testing;

namespace RelayAppliance.Server.Tests;

/// <summary>
/// Allocation through the real socket path, which the embedded session (<see cref="SessionAllocationBudgetTests"/>,
/// in-memory pipes) does not cover: the socket reader and writer, the listener's accept and the spool (on tmpfs), with
/// 16 sessions at once as in production. Two operations: a connection without mail (greeting, EHLO, QUIT, close; the
/// client's own socket counts too) and one more message on an open connection. Clients are blocking sockets on
/// threads of their own, which allocate nothing per command; all clients run each round together and the best of
/// three rounds is taken.
/// </summary>
[Collection(nameof(AllocationMeasurement))]
public sealed class SocketSessionAllocationTests
{
    internal const string MessageOperation = "smtp.session.socket-message-on-open-connection-1KiB-tmpfs-spool";
    internal const string ConnectionOperation = "smtp.session.socket-connection-without-mail";
    private const int Clients = 16; // more sessions waiting at once than pooled async builders keep boxes for
    private const int WarmUp = 50;
    private const int Iterations = 100;
    private const int Rounds = 3;

    [Fact]
    public Task AMessageOnAnOpenConnectionStaysWithinItsAllocationBudget() => MeasureAsync(MessageOperation, RunMessages);

    [Fact]
    public Task AConnectionWithoutMailStaysWithinItsAllocationBudget() => MeasureAsync(ConnectionOperation, RunConnections);

    private static async Task MeasureAsync(string operation, Action<int, Barrier> runClient)
    {
        Assert.True(AllocationBudgetFile.Read("RelayAppliance.Server.Tests").TryGetValue(operation, out long budget),
            $"{operation} has no entry in {AllocationBudgetFile.FileName}.");
        await using var relay = await RelayFixture.StartAsync(spoolParent: Directory.Exists("/dev/shm") ? "/dev/shm" : null);

        // Every client waits at the barrier between phases; the measuring thread reads the counter while all wait.
        using var phase = new Barrier(Clients + 1);
        var failures = new List<Exception>();
        var clients = new Thread[Clients];
        for (int c = 0; c < Clients; c++)
        {
            clients[c] = new Thread(() =>
            {
                try
                {
                    runClient(relay.Port, phase);
                }
                catch (Exception e)
                {
                    lock (failures)
                    {
                        failures.Add(e);
                    }
                    phase.RemoveParticipant();
                }
            });
            clients[c].Start();
        }

        long best = long.MaxValue;
        await Task.Run(() =>
        {
            var wait = TimeSpan.FromMinutes(1);
            Assert.True(phase.SignalAndWait(wait), "warm-up did not finish");
            for (int round = 0; round < Rounds; round++)
            {
                long before = GC.GetTotalAllocatedBytes(precise: true);
                Assert.True(phase.SignalAndWait(wait), "a round did not start");
                Assert.True(phase.SignalAndWait(wait), "a round did not finish");
                best = Math.Min(best, GC.GetTotalAllocatedBytes(precise: true) - before);
            }
            foreach (var client in clients)
            {
                Assert.True(client.Join(wait), "a client did not finish");
            }
        });
        Assert.Empty(failures);

        double perOperation = (double)best / (Clients * Iterations);
        Assert.True(perOperation <= budget,
            $"{operation} allocates {perOperation:0} bytes per operation; its budget in {AllocationBudgetFile.FileName} is {budget} bytes.");
    }

    /// <summary>One connection, then messages on it: MAIL, RCPT, DATA, the body, each waiting for its reply.</summary>
    private static void RunMessages(int port, Barrier phase)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        socket.Connect(new IPEndPoint(IPAddress.Loopback, port));
        var replies = new byte[4096];
        Expect(socket, replies, 220);
        Command(socket, replies, Ascii("EHLO client.example.org\r\n"), 250);

        byte[] mail = Ascii("MAIL FROM:<alice.sender@example.org>\r\n");
        byte[] rcpt = Ascii("RCPT TO:<bob.recipient@relay.test>\r\n");
        byte[] data = Ascii("DATA\r\n");
        byte[] body = Ascii("Subject: allocation\r\n\r\n" + string.Concat(Enumerable.Repeat(new string('x', 76) + "\r\n", 13)) + ".\r\n");
        void OneMessage()
        {
            Command(socket, replies, mail, 250);
            Command(socket, replies, rcpt, 250);
            Command(socket, replies, data, 354);
            Command(socket, replies, body, 250);
        }

        RunPhases(phase, OneMessage);
        Command(socket, replies, Ascii("QUIT\r\n"), 221);
    }

    /// <summary>Connections without mail: greeting, EHLO, QUIT, close. The client's own socket counts too.</summary>
    private static void RunConnections(int port, Barrier phase)
    {
        var server = new IPEndPoint(IPAddress.Loopback, port);
        var replies = new byte[4096];
        byte[] ehlo = Ascii("EHLO client.example.org\r\n");
        byte[] quit = Ascii("QUIT\r\n");
        void OneConnection()
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            socket.Connect(server);
            Expect(socket, replies, 220);
            Command(socket, replies, ehlo, 250);
            Command(socket, replies, quit, 221);
        }

        RunPhases(phase, OneConnection);
    }

    /// <summary>Warm-up, then the measured rounds, each between two barriers the measuring thread also waits at.</summary>
    private static void RunPhases(Barrier phase, Action operation)
    {
        for (int i = 0; i < WarmUp; i++)
        {
            operation();
        }
        phase.SignalAndWait();
        for (int round = 0; round < Rounds; round++)
        {
            phase.SignalAndWait();
            for (int i = 0; i < Iterations; i++)
            {
                operation();
            }
            phase.SignalAndWait();
        }
    }

    private static void Command(Socket socket, byte[] replies, byte[] command, int expected)
    {
        int sent = 0;
        while (sent < command.Length)
        {
            sent += socket.Send(command.AsSpan(sent));
        }
        Expect(socket, replies, expected);
    }

    /// <summary>Reads until a final reply line ("ddd " … CRLF) has arrived; one command gets exactly one.</summary>
    private static void Expect(Socket socket, byte[] replies, int expected)
    {
        int length = 0;
        while (true)
        {
            int received = socket.Receive(replies.AsSpan(length));
            if (received == 0)
            {
                throw new InvalidOperationException("the server closed the connection");
            }
            length += received;
            int lineStart = 0;
            for (int i = 1; i < length; i++)
            {
                if (replies[i - 1] != '\r' || replies[i] != '\n')
                {
                    continue;
                }
                if (replies[lineStart + 3] == ' ')
                {
                    int code = (replies[lineStart] - '0') * 100 + (replies[lineStart + 1] - '0') * 10 + (replies[lineStart + 2] - '0');
                    if (code != expected) // not Assert.True(…, $"…"): its message would be built, and allocated, every time
                    {
                        throw new InvalidOperationException($"expected {expected}, got {Encoding.ASCII.GetString(replies, lineStart, i - 1 - lineStart)}");
                    }
                    return;
                }
                lineStart = i + 1;
            }
        }
    }

    private static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);
}
