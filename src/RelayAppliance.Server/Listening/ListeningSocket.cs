using System.Net;
using System.Net.Sockets;

namespace RelayAppliance.Server.Listening;

/// <summary>Binding a TCP listener and its accept loop, shared by <see cref="ListenerHost{TSession}"/> and the sink.</summary>
internal static class ListeningSocket
{
    /// <summary>A listening socket on <paramref name="endPoint"/>; throws SocketException (nothing stays open) when it cannot bind.</summary>
    public static Socket Bind(IPEndPoint endPoint, int backlog)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(endPoint);
            socket.Listen(backlog);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Accepts until <paramref name="stopping"/> is cancelled and the listener disposed, handing each connection to
    /// <paramref name="accepted"/> (which must not block: it starts the connection's work and returns).
    /// </summary>
    public static async Task AcceptLoopAsync(Socket listener, CancellationToken stopping, Action<Socket> accepted)
    {
        while (!stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                // No token to cancel: the owner disposes the listener on stop, which ends a pending accept; a real token
                // would be registered and unregistered on every accept. CancellationToken.None picks the overload that
                // returns a ValueTask, so an accept allocates no Task either.
                client = await listener.AcceptAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException && stopping.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                continue; // a connection reset before accept completed
            }
            accepted(client);
        }
    }
}
