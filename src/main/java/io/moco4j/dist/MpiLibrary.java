package io.moco4j.dist;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.PointerByReference;
import io.moco4j.util.UserException;
import java.util.List;
import java.util.Map;

/**
 * The few functions of Open MPI's C API that MoCo4J calls, bound through JNA (no native code of ours).
 *
 * <p>Open MPI's handles ({@code MPI_Comm}, {@code MPI_Datatype}, {@code MPI_Op}) are pointers to predefined
 * global objects: {@code MPI_COMM_WORLD} is {@code &ompi_mpi_comm_world} (mpi.h, {@code OMPI_PREDEFINED_GLOBAL}),
 * so {@link Handles} reads the addresses of those symbols. This is Open MPI's ABI; MPICH uses integer handles
 * and would need its own binding. {@code MPI_IN_PLACE} is {@code ((void *) 1)} in Open MPI 4.x mpi.h.
 */
interface MpiLibrary extends Library {
    /** mpi.h: {@code enum { MPI_THREAD_SINGLE, MPI_THREAD_FUNNELED, MPI_THREAD_SERIALIZED, MPI_THREAD_MULTIPLE }}. */
    int MPI_THREAD_SERIALIZED = 2;
    /** mpi.h: first value of the comm-split-type enum. */
    int MPI_COMM_TYPE_SHARED = 0;
    int MPI_SUCCESS = 0;
    Pointer MPI_IN_PLACE = new Pointer(1);

    int MPI_Initialized(IntByReference flag);

    int MPI_Finalized(IntByReference flag);

    int MPI_Init_thread(Pointer argc, Pointer argv, int required, IntByReference provided);

    int MPI_Comm_rank(Pointer comm, IntByReference rank);

    int MPI_Comm_size(Pointer comm, IntByReference size);

    int MPI_Comm_split_type(Pointer comm, int splitType, int key, Pointer info, PointerByReference newComm);

    int MPI_Comm_free(PointerByReference comm);

    int MPI_Allreduce(Pointer sendBuf, Pointer recvBuf, int count, Pointer datatype, Pointer op, Pointer comm);

    int MPI_Allgather(Pointer sendBuf, int sendCount, Pointer sendType, Pointer recvBuf, int recvCount,
                      Pointer recvType, Pointer comm);

    int MPI_Bcast(Pointer buffer, int count, Pointer datatype, int root, Pointer comm);

    int MPI_Barrier(Pointer comm);

    int MPI_Abort(Pointer comm, int errorCode);

    int MPI_Finalize();

    /** Addresses of Open MPI's predefined handles. */
    record Handles(Pointer commWorld, Pointer infoNull, Pointer opSum, Pointer typeByte, Pointer typeInt,
                   Pointer typeLong, Pointer typeFloat, Pointer typeDouble) {
        static Handles of(NativeLibrary lib) {
            return new Handles(lib.getGlobalVariableAddress("ompi_mpi_comm_world"),
                    lib.getGlobalVariableAddress("ompi_mpi_info_null"),
                    lib.getGlobalVariableAddress("ompi_mpi_op_sum"),
                    lib.getGlobalVariableAddress("ompi_mpi_byte"),
                    lib.getGlobalVariableAddress("ompi_mpi_int"),
                    lib.getGlobalVariableAddress("ompi_mpi_long"),
                    lib.getGlobalVariableAddress("ompi_mpi_float"),
                    lib.getGlobalVariableAddress("ompi_mpi_double"));
        }
    }

    /** The names tried in order: Debian's Open MPI 4.x soname, then the development link. */
    List<String> LIBRARY_NAMES = List.of("mpi.so.40", "mpi");

    /**
     * Loads libmpi with RTLD_GLOBAL: Open MPI's plugins (dlopen'ed by MPI_Init) resolve symbols of libmpi and
     * libopen-pal through the global namespace.
     */
    static Loaded load() {
        UnsatisfiedLinkError last = null;
        for (String name : LIBRARY_NAMES) {
            try {
                String path = name.endsWith(".40") ? "lib" + name : name;
                Map<String, Object> options = Map.of(Library.OPTION_OPEN_FLAGS, 0x2 | 0x100); // RTLD_NOW | RTLD_GLOBAL
                NativeLibrary lib = NativeLibrary.getInstance(path, options);
                MpiLibrary api = Native.load(path, MpiLibrary.class, options);
                return new Loaded(api, Handles.of(lib));
            } catch (UnsatisfiedLinkError e) {
                last = e;
            }
        }
        throw new UserException("Open MPI's libmpi was not found (" + (last == null ? "" : last.getMessage())
                + "); install it with: apt-get install openmpi-bin");
    }

    record Loaded(MpiLibrary api, Handles handles) {}
}
